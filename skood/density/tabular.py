"""Flow density estimator for tabular data."""

from numbers import Integral

from ..flows import TabularFlow
from ..utils._sklearn_compat import Interval
from ._base import BaseFlowDensity
from .glow import standardization_params


class TabularFlowDensity(BaseFlowDensity):
    """Normalizing-flow density estimator for feature vectors.

    Features are standardised inside the estimator (the log-Jacobian is added, so
    likelihoods are densities of the original data), then passed through
    ``n_layers`` steps of ActNorm, an LU-parametrised invertible linear map and an
    MLP affine coupling, under a learned diagonal Gaussian prior.

    Parameters
    ----------
    n_layers : int, default=6
        Flow steps.
    hidden_units : int, default=64
        Width of the two hidden layers of each coupling MLP.
    max_epochs : int, default=50
    batch_size : int, default=128
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    max_grad_norm : float or None, default=50.0
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    init_from : fitted density estimator or None, default=None
        Start from this model's weights (fine-tuning); see
        :class:`~skood.density.GlowDensity`.
    auxiliary_loss : callable or None, default=None
        Added to the training loss of every batch; see
        :class:`~skood.density.GlowDensity`.
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or ``"auto"``
        (a GPU when one is available, else the CPU); an unavailable device is refused
        when fitting. A fitted model moves with :meth:`to`; pickled, it loads on the
        CPU where CUDA is missing.
    dtype : {"float32", "float64"}, default="float32"
    checkpoint_dir : str, path-like or None, default=None
        Directory for a checkpoint of the training state (weights, optimizer,
        epoch, random generator), written after every completed epoch. A ``fit``
        that crashed or was interrupted resumes from the last completed epoch
        when ``fit`` is called again with the same parameters, data and
        ``random_state``, and gives the same model as an uninterrupted fit. The
        checkpoint is deleted when ``fit`` completes.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` (also ``module_``) is the torch
        :class:`~skood.flows.DensityModule`.
    input_shape_ : tuple of int
        ``(n_features, 1, 1)``: the flow's view of a vector.
    pixel_scale_ : str
        ``"continuous"`` (features are standardised, not dequantized).
    latent_shapes_ : list of tuple
        ``[(n_features, 1, 1)]``: one scale.
    n_features_in_ : int
    n_iter_ : int
    history_ : skorch.History

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import TabularFlowDensity
    >>> X = np.random.RandomState(0).normal(size=(200, 3))
    >>> flow = TabularFlowDensity(max_epochs=5, random_state=0).fit(X)
    >>> flow.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseFlowDensity._parameter_constraints,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_layers=6,
        hidden_units=64,
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        max_grad_norm=50.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        init_from=None,
        auxiliary_loss=None,
        device="cpu",
        dtype="float32",
        checkpoint_dir=None,
        random_state=None,
        verbose=0,
    ):
        self.n_layers = n_layers
        self.hidden_units = hidden_units
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init_from = init_from
        self.auxiliary_loss = auxiliary_loss
        self.device = device
        self.dtype = dtype
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.verbose = verbose

    def _module_params(self, X):
        flow_params = dict(n_features=X.shape[1], n_layers=self.n_layers,
                           hidden_units=self.hidden_units)
        return dict(flow_class=TabularFlow, flow_params=flow_params, **standardization_params(X))
