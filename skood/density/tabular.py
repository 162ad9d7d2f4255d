"""Flow density estimator for tabular data."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ..flows import TabularFlow
from ._base import BaseFlowDensity
from ._net import DensityModule
from .glow import _standardization


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
    device : str, default="cpu"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNet
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
        device="cpu",
        dtype="float32",
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
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _build_module(self, X):
        flow = TabularFlow(X.shape[1], n_layers=self.n_layers, hidden_units=self.hidden_units)
        return DensityModule(_standardization(X), flow)
