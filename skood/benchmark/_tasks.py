"""Benchmark tasks: (in-distribution train, ID test, OOD test) image sets."""

import numpy as np
from sklearn.utils import Bunch

from skood import datasets

TASKS = ("digits", "fmnist-mnist", "mnist-fmnist", "cifar10-tiny", "cifar10-noise",
         "cifar10-constant")


def _subsample(X, n, rng):
    if n is None or n >= len(X):
        return X
    return X[rng.choice(len(X), n, replace=False)]


def _cifar_like_synthetic(kind, n, rng):
    if kind == "noise":
        return rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    colours = rng.randint(0, 256, size=(n, 3, 1))
    return np.repeat(colours, 1024, axis=2).reshape(n, 3072).astype(np.uint8)


def load_task(name, *, n_train=None, n_test=None, n_general=None, image_size=None,
              random_state=0, data_home=None):
    """Load one benchmark task: ID training images, ID test and OOD test images.

    Parameters
    ----------
    name : str
        One of :data:`TASKS`. ``"digits"`` uses the embedded digits (0-4 ID, 5-9
        OOD); the others read real data from ``data_home``.
    n_train, n_test, n_general : int or None, default=None
        Subsample the ID training set, each test set and the general data.
    image_size : int or None, default=None
        ``32`` resizes the 28x28 (Fashion-)MNIST images (bilinear, as
        Schirrmeister et al. do) so that a 3-level Glow has a 4x4 last scale.
    random_state : int, default=0
        Seeds the subsampling and the synthetic OOD images.
    data_home : path-like or None, default=None
        Where the real data sets are read (see :mod:`skood.datasets`).

    Returns
    -------
    Bunch
        ``name``, ``X_train``, ``X_id``, ``X_ood`` (flattened uint8 images),
        ``input_shape``, ``general`` (or None), and the cache names ``flow_key``
        and ``general_key``. ``general`` holds general-distribution images for the
        general-vs-specific likelihood ratio: Tiny ImageNet val (grey and resized
        for the 28x28 sets), a stand-in for the withdrawn 80M Tiny Images; it never
        overlaps the OOD test set.
    """
    rng = np.random.RandomState(random_state)
    general = None
    grey = name in ("fmnist-mnist", "mnist-fmnist")
    if name == "digits":
        d = datasets.load_digits_ood(random_state=random_state)
        X_train, X_id, X_ood, shape = d.X_train, d.X_test_id, d.X_test_ood, d.input_shape
    elif grey:
        load_in, load_out = datasets.load_fashion_mnist, datasets.load_mnist
        if name == "mnist-fmnist":
            load_in, load_out = load_out, load_in
        X_train = load_in(subset="train", data_home=data_home)[0]
        X_id = load_in(subset="test", data_home=data_home)[0]
        X_ood = load_out(subset="test", data_home=data_home)[0]
        size = image_size or 28
        shape = (1, size, size)
        general = datasets.load_tiny_imagenet_val(size=size, grey=True, data_home=data_home)[0]
    elif name.startswith("cifar10-"):
        X_train = datasets.load_cifar10(subset="train", data_home=data_home)[0]
        X_id = datasets.load_cifar10(subset="test", data_home=data_home)[0]
        tiny = datasets.load_tiny_imagenet_val(size=32, data_home=data_home)[0]
        ood = name.split("-", 1)[1]
        if ood == "tiny":
            # Half of Tiny ImageNet val is the OOD test set, the other half the general data.
            perm = rng.permutation(len(tiny))
            X_ood, general = tiny[perm[:5000]], tiny[perm[5000:]]
        else:
            X_ood = _cifar_like_synthetic(ood, n_test or 1000, rng)
            general = tiny
        shape = (3, 32, 32)
    else:
        raise ValueError(f"Unknown task {name!r}; choose from {TASKS}.")

    def prepare(X, n, rng=rng):
        X = _subsample(X, n, rng)
        if grey and shape[1] != 28:
            X = datasets.resize_images(X, (1, 28, 28), shape[1])
        return X

    suffix = f"@{shape[1]}" if grey and shape[1] != 28 else ""
    # Its own generator: every task on the same ID data gets the same training subset,
    # so the CIFAR-10 tasks share one cached ID flow (``flow_key``).
    X_train = prepare(X_train, n_train, np.random.RandomState(random_state))
    return Bunch(
        name=name + suffix,
        flow_key="cifar10" if name.startswith("cifar10-") else name + suffix,
        # Both grey tasks draw the same general images: they share one general model.
        general_key=("fmnist-mnist" + suffix) if grey else name,
        X_train=X_train,
        X_id=prepare(X_id, n_test),
        X_ood=prepare(X_ood, n_test),
        input_shape=tuple(shape),
        general=None if general is None else _subsample(general, n_general, rng),
    )
