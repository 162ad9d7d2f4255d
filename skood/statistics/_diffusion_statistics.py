"""DiffusionStatistics: a diffusion model's per-sample statistics as a feature matrix."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from ..density import DiffusionDensity
from ..utils._sklearn_compat import HasMethods, StrOptions, _fit_context
from ._compression import model_pixel_bits_per_dim

_CODECS = {"png", "webp", "jpeg2000", "min"}
_KINDS = ("score_norms", "flipd", "log_prob", "path")
#: What :class:`~skood.detectors.DensityOfStatesDetector` reads from a diffusion model
#: by default: the cheap statistics (no likelihood ODE).
DEFAULT_DIFFUSION_STATISTICS = ("score_norms", "flipd")


class DiffusionStatistics(TransformerMixin, BaseEstimator):
    """Named per-sample statistics of a (fitted or frozen) diffusion model, from one pass.

    The columns, for the kinds in ``statistics`` (in this order):

    - ``score_norm_i``: the multiscale score norms ``||eps(alpha(t_i) x, t_i)||``
      at the model's ``n_score_levels`` noise levels (Mahmood et al.'s MSMA
      statistics), finest noise first;
    - ``flipd``: FLIPD local intrinsic dimension at the model's ``flipd_t0_``;
    - ``log_prob``: the probability-flow ODE log-likelihood (the dearest: about
      ``ode_steps * (1 + 2 P)`` network evaluations per input);
    - ``path_rate``, ``path_curvature``: DiffPath's statistics of a DDIM path;

    and, optionally, ``compressed_bits`` (the input's lossless compressed length
    per dimension; pixel models only) and ``reference_log_prob`` (another
    model's log-likelihood). Use it in a :class:`~sklearn.pipeline.Pipeline`
    with any scikit-learn density, or through
    :class:`~skood.detectors.DensityOfStatesDetector`, which builds it for a
    diffusion model.

    Parameters
    ----------
    density : DiffusionDensity or None, default=None
        Unfitted (cloned and fitted on ``X``) or fitted in a
        :class:`sklearn.frozen.FrozenEstimator` (used as it is). ``None`` fits a
        :class:`~skood.density.DiffusionDensity` with default parameters.
    statistics : sequence of {"score_norms", "flipd", "log_prob", "path"}, \
default=("score_norms", "flipd")
    compression : {"auto", "png", "webp", "jpeg2000", "min"} or None, default=None
        Codec of a ``compressed_bits`` column (``"auto"``: PNG for pixel models,
        none for other data).
    reference : fitted density estimator or None, default=None
        Adds ``reference_log_prob`` (its ``score_samples``).
    n_jobs : int or None, default=None
        Threads for the compression.

    Attributes
    ----------
    density_ : DiffusionDensity
    compression_ : str or None
    feature_names_out_ : ndarray of str
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skood.density import DiffusionDensity
    >>> from skood.statistics import DiffusionStatistics
    >>> X = np.random.RandomState(0).normal(size=(200, 3))
    >>> dm = DiffusionDensity(hidden_units=(16,), n_score_levels=3, pixel_scale="continuous",
    ...                       max_epochs=2, flipd_t0=0.05, random_state=0)
    >>> stats = DiffusionStatistics(dm).fit(X)
    >>> stats.get_feature_names_out()
    array(['score_norm_0', 'score_norm_1', 'score_norm_2', 'flipd'],
          dtype=object)
    >>> model = make_pipeline(stats, StandardScaler(), GaussianMixture(random_state=0))
    >>> model.fit(X).score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "density": [HasMethods(["fit", "diffusion_statistics"]), None],
        "statistics": [tuple, list],
        "compression": [StrOptions(_CODECS | {"auto"}), None],
        "reference": [HasMethods(["score_samples"]), None],
        "n_jobs": [int, None],
    }

    def __init__(self, density=None, *, statistics=DEFAULT_DIFFUSION_STATISTICS,
                 compression=None, reference=None, n_jobs=None):
        self.density = density
        self.statistics = statistics
        self.compression = compression
        self.reference = reference
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the diffusion model on ``X`` (a frozen one is used as it is).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        kinds = check_statistics(self.statistics)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        density = DiffusionDensity() if self.density is None else self.density
        self.density_ = clone(density).fit(X, None)
        if self.reference is not None:
            check_is_fitted(self.reference)
        pixels = self.density_.pixel_scale_ != "continuous"
        codec = self.compression
        if codec == "auto":
            codec = "png" if pixels else None
        elif codec is not None and not pixels:
            raise ValueError(
                f"compression={codec!r} needs pixel data; this model has "
                "pixel_scale_='continuous'. Use compression=None."
            )
        self.compression_ = codec
        self.kinds_ = kinds
        names = []
        for kind in kinds:
            if kind == "score_norms":
                names += [f"score_norm_{i}" for i in range(len(self.density_.score_norm_times_))]
            elif kind == "path":
                names += ["path_rate", "path_curvature"]
            else:
                names.append(kind)
        if codec is not None:
            names.append("compressed_bits")
        if self.reference is not None:
            names.append("reference_log_prob")
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X):
        """Statistics of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        S : ndarray of shape (n_samples, n_statistics)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype="numeric", reset=False)
        return self.from_diffusion_output(self.model_pass(X), X)

    def model_pass(self, X):
        """The one pass of the diffusion model these statistics need
        (:meth:`~skood.density.DiffusionDensity.diffusion_statistics`)."""
        return self.density_.diffusion_statistics(X, statistics=self.kinds_)

    def from_diffusion_output(self, output, X):
        """Statistics from a pass already made (:meth:`model_pass`).

        Parameters
        ----------
        output : DiffusionOutput
        X : ndarray of shape (n_samples, n_features)
            The inputs of that pass (for the compression and reference).

        Returns
        -------
        S : ndarray of shape (n_samples, n_statistics)
        """
        cols = []
        for kind in self.kinds_:
            value = getattr(output, kind)
            cols += list(value.T) if value.ndim == 2 else [value]
        if self.compression_ is not None:
            cols.append(model_pixel_bits_per_dim(self.density_, X, self.compression_,
                                                 n_jobs=self.n_jobs))
        if self.reference is not None:
            cols.append(self.reference.score_samples(X))
        return np.column_stack(cols).astype(np.float64)

    def get_feature_names_out(self, input_features=None):
        """Names of the statistics (the columns of :meth:`transform`).

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str objects
        """
        check_is_fitted(self)
        return self.feature_names_out_.copy()


def check_statistics(statistics):
    """Validated tuple of diffusion statistic kinds (no duplicates, at least one)."""
    kinds = tuple(statistics)
    bad = [k for k in kinds if not isinstance(k, str) or k not in _KINDS]
    if not kinds or bad or len(set(kinds)) != len(kinds):
        raise ValueError(
            f"statistics must be distinct names among {list(_KINDS)}; got {statistics!r}."
        )
    return kinds
