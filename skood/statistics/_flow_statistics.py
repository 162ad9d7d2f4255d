"""FlowStatistics: a flow's own per-sample statistics as a feature matrix."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from ..density import TabularFlowDensity
from ..utils._sklearn_compat import FlowMethods, HasMethods, StrOptions, _fit_context
from ._compression import model_pixel_bits_per_dim

_CODECS = {"png", "webp", "jpeg2000", "min"}


class FlowStatistics(TransformerMixin, BaseEstimator):
    """Named per-sample statistics of a (fitted or frozen) flow, from one flow pass.

    ``per_scale="terms"`` (default): one column per scale ``l`` of the flow
    (finest first), ``log_lik_l``, scale ``l``'s contribution to the
    log-likelihood (the log-determinant of its block of layers plus the prior
    log-density of the latents it factors out). The terms sum to ``log p(x)``.
    They are properties of the density's hierarchy (Schirrmeister et al.: the
    first scales model local pixel correlations, the last scale the global
    content), and they do not depend on how a flow shares a scale's term
    between its log-determinant and its prior.

    ``per_scale="split"``: three columns per scale,

    - ``log_prior_l``: the prior log-density of the latents factored out at
      scale ``l``;
    - ``logdet_l``: the log-determinant of scale ``l``'s block of layers (scale 0
      also holds the pre-transform's);
    - ``latent_norm_l``: ``||z_hat_l||^2 / d_l``, the mean squared
      prior-normalised latent (about 1 for typical in-distribution inputs);

    ``log_prior_l + logdet_l`` is scale ``l``'s term (Morningstar et al.'s
    statistics of a Glow, per scale). The log-likelihood itself is a sum of
    columns in both cases and is kept out, to avoid exactly dependent columns.
    Optional columns:

    - ``compressed_bits``: the lossless compressed length of the input in bits
      per dimension (Serrà et al.'s universal reference; pixel flows only),
      ``compression`` names the codec;
    - ``reference_log_prob``: the log-likelihood under ``reference``, a fitted
      model of other data (a background or general-distribution model).

    Statistics are computed by the flow, which is the model of the data:
    ``fit`` fits a clone of ``flow`` on ``X`` unless it is a
    :class:`sklearn.frozen.FrozenEstimator` (used as it is).

    Parameters
    ----------
    flow : density estimator or None, default=None
        A skood density estimator with ``flow_pass`` (unfitted, or fitted in a
        ``FrozenEstimator``). ``None`` fits a
        :class:`~skood.density.TabularFlowDensity`.
    per_scale : {"terms", "split"}, default="terms"
        ``"terms"``: one log-likelihood term per scale; ``"split"``: its prior
        term, log-determinant and normalised latent norm.
    compression : {"auto", "png", "webp", "jpeg2000", "min"} or None, default="auto"
        Codec of the ``compressed_bits`` column. ``"auto"``: ``"png"`` for pixel
        flows (``pixel_scale_`` other than ``"continuous"``), no column for
        other data. ``None``: no column.
    reference : fitted density estimator or None, default=None
        Adds ``reference_log_prob``. Wrap it in ``FrozenEstimator`` so that
        :func:`~sklearn.base.clone` keeps it fitted.
    n_jobs : int or None, default=None
        Threads for the compression (see :func:`compressed_bits`).

    Attributes
    ----------
    flow_ : density estimator
        The fitted flow.
    compression_ : str or None
        The codec in use.
    n_features_in_ : int
    feature_names_out_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skood.density import TabularFlowDensity
    >>> from skood.statistics import FlowStatistics
    >>> X = np.random.RandomState(0).normal(size=(300, 4))
    >>> stats = FlowStatistics(TabularFlowDensity(n_layers=2, max_epochs=2, random_state=0))
    >>> stats.fit(X).get_feature_names_out()
    array(['log_lik_0'], dtype=object)
    >>> stats.set_params(per_scale="split").fit(X).get_feature_names_out()
    array(['log_prior_0', 'logdet_0', 'latent_norm_0'], dtype=object)
    >>> model = make_pipeline(stats, StandardScaler(), GaussianMixture(random_state=0))
    >>> model.fit(X).score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "flow": [FlowMethods(), None],
        "per_scale": [StrOptions({"terms", "split"})],
        "compression": [StrOptions(_CODECS | {"auto"}), None],
        "reference": [HasMethods(["flow_pass"]), None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, flow=None, *, per_scale="terms", compression="auto", reference=None,
                 n_jobs=None):
        self.flow = flow
        self.per_scale = per_scale
        self.compression = compression
        self.reference = reference
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the flow on ``X`` (a frozen flow is used as it is).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        flow = TabularFlowDensity() if self.flow is None else self.flow
        self.flow_ = clone(flow).fit(X, None)
        if self.reference is not None:
            check_is_fitted(self.reference)
        pixels = self.flow_.pixel_scale_ != "continuous"
        codec = self.compression
        if codec == "auto":
            codec = "png" if pixels else None
        elif codec is not None and not pixels:
            raise ValueError(
                f"compression={codec!r} needs pixel data; this flow has "
                "pixel_scale_='continuous'. Use compression=None."
            )
        self.compression_ = codec
        kinds = ("log_lik",) if self.per_scale == "terms" else (
            "log_prior", "logdet", "latent_norm")
        names = [f"{kind}_{s}" for s in range(len(self.flow_.latent_shapes_)) for kind in kinds]
        if codec is not None:
            names.append("compressed_bits")
        if self.reference is not None:
            names.append("reference_log_prob")
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X):
        """Statistics of each sample (one flow pass, plus compression / reference).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        S : ndarray of shape (n_samples, n_statistics)
            Columns named by :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype="numeric", reset=False)
        return self.from_flow_pass(self.flow_.flow_pass(X, latents=self.needs_latents), X)

    @property
    def needs_latents(self):
        """Whether :meth:`from_flow_pass` reads the pass's latents (``"split"``)."""
        return self.per_scale == "split"

    def from_flow_pass(self, output, X):
        """Statistics from a flow pass already made (``flow_.flow_pass(X)``).

        Lets a caller that also needs the latents make one pass.

        Parameters
        ----------
        output : FlowOutput
            The pass over ``X``, with latents if :attr:`needs_latents`.
        X : ndarray of shape (n_samples, n_features)
            The validated inputs of that pass (for the compression and reference).

        Returns
        -------
        S : ndarray of shape (n_samples, n_statistics)
        """
        out = output
        if self.per_scale == "terms":
            cols = list(out.log_prob_per_scale.T)
        else:
            cols = []
            for s, z in enumerate(out.latents_normalized):
                z = z.reshape(len(z), -1)
                cols += [out.log_prior_per_scale[:, s], out.logdet_per_scale[:, s],
                         np.mean(z**2, axis=1)]
        if self.compression_ is not None:
            cols.append(model_pixel_bits_per_dim(self.flow_, X, self.compression_,
                                                 n_jobs=self.n_jobs))
        if self.reference is not None:
            cols.append(self.reference.flow_pass(X, latents=False).log_prob)
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
