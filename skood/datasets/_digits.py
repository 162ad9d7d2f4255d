"""scikit-learn's 8x8 digits, shipped with scikit-learn, as uint8 images and an OOD split."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

from ._home import _return

#: Image shape ``(C, H, W)`` of :func:`load_digits_images`.
DIGITS_SHAPE = (1, 8, 8)


def load_digits_images(*, return_shape=False):
    """Load scikit-learn's 8x8 digits as uint8 images.

    The digits (values 0..16) are rescaled to 0..255 with
    ``round(v * 255 / 16)`` (halves rounded up, so 8 -> 128).

    Parameters
    ----------
    return_shape : bool, default=False
        If True, also return the image shape ``(1, 8, 8)``.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype uint8
        Flattened images.
    y : ndarray of shape (1797,), dtype int
        Digit labels 0..9.
    input_shape : tuple of int
        ``(1, 8, 8)``; only if ``return_shape`` is True.

    Examples
    --------
    >>> from skood.datasets import load_digits_images
    >>> X, y, input_shape = load_digits_images(return_shape=True)
    >>> X.shape, X.dtype, input_shape
    ((1797, 64), dtype('uint8'), (1, 8, 8))
    >>> X.reshape(-1, *input_shape).shape  # the images, channels first
    (1797, 1, 8, 8)
    >>> y[:5]
    array([0, 1, 2, 3, 4])
    """
    digits = load_digits()
    values = np.asarray(digits.data, dtype=np.float64)
    X = np.floor(values * 255.0 / 16.0 + 0.5).clip(0, 255).astype(np.uint8)
    y = np.asarray(digits.target, dtype=np.int64)
    return _return(X, y, DIGITS_SHAPE, return_shape)


def load_digits_ood(*, inlier_digits=(0, 1, 2, 3, 4), random_state=0, test_size=0.5):
    """Split scikit-learn's digits into an out-of-distribution demo.

    The digits in ``inlier_digits`` are in-distribution: they are split
    (stratified by digit) into a training part and an in-distribution test
    part. All the other digits form the out-of-distribution test set.

    Parameters
    ----------
    inlier_digits : sequence of int, default=(0, 1, 2, 3, 4)
        The in-distribution digits; a non-empty proper subset of 0..9.
    random_state : int, RandomState instance or None, default=0
        Seed of the train/test split of the inlier digits.
    test_size : float or int, default=0.5
        Fraction (or number) of the inlier digits put in ``X_test_id``.

    Returns
    -------
    data : sklearn.utils.Bunch
        With attributes

        - ``X_train`` : uint8 array (n_train, 64), inlier digits to fit on;
        - ``y_train`` : digit labels of ``X_train``;
        - ``X_test_id`` : uint8 array, held-out inlier digits;
        - ``y_test_id`` : digit labels of ``X_test_id``;
        - ``X_test_ood`` : uint8 array, all the digits not in ``inlier_digits``;
        - ``y_test_ood`` : digit labels of ``X_test_ood``;
        - ``input_shape`` : ``(1, 8, 8)``;
        - ``inlier_digits`` : tuple of the inlier digits;
        - ``description`` : a one-paragraph description.

    Examples
    --------
    >>> from skood.datasets import load_digits_ood
    >>> data = load_digits_ood(inlier_digits=(0, 1, 2, 3, 4))
    >>> data.X_train.shape, data.X_test_id.shape, data.X_test_ood.shape
    ((450, 64), (451, 64), (896, 64))
    >>> sorted(set(data.y_test_ood.tolist()))
    [5, 6, 7, 8, 9]
    """
    try:
        inliers = tuple(sorted({int(d) for d in inlier_digits}))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"inlier_digits must be a sequence of ints, got {inlier_digits!r}."
        ) from exc
    if not inliers or any(d < 0 or d > 9 for d in inliers) or len(inliers) == 10:
        raise ValueError(
            "inlier_digits must be a non-empty proper subset of 0..9, "
            f"got {inlier_digits!r}."
        )
    X, y = load_digits_images()
    is_in = np.isin(y, inliers)
    X_in, y_in = X[is_in], y[is_in]
    X_train, X_test_id, y_train, y_test_id = train_test_split(
        X_in,
        y_in,
        test_size=test_size,
        random_state=check_random_state(random_state),
        stratify=y_in,
    )
    outliers = tuple(d for d in range(10) if d not in inliers)
    description = (
        "scikit-learn digits (8x8 grey, rescaled to 0..255) as an OOD demo: "
        f"in-distribution digits {inliers} split into X_train ({len(X_train)}) and "
        f"X_test_id ({len(X_test_id)}); out-of-distribution digits {outliers} in "
        f"X_test_ood ({int((~is_in).sum())}). Images are flattened; "
        "input_shape=(1, 8, 8)."
    )
    return Bunch(
        X_train=X_train,
        y_train=y_train,
        X_test_id=X_test_id,
        y_test_id=y_test_id,
        X_test_ood=X[~is_in],
        y_test_ood=y[~is_in],
        input_shape=DIGITS_SHAPE,
        inlier_digits=inliers,
        description=description,
    )
