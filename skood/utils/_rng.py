"""Private random streams for torch: a fit draws from its own generators only.

``torch.manual_seed`` seeds the process-wide generator, which every thread shares:
two fits running in threads would interleave their draws and change each other's
results. :class:`PrivateRNG` is a torch function mode (modes are thread-local) that
gives every random draw made without an explicit ``generator`` one of its own
generators, created per device and seeded with the fit's seed. Since a generator
seeded with ``s`` produces the same numbers as the global generator after
``torch.manual_seed(s)``, the draws are exactly those of a fit that seeded the
global generator, made in the same order (parameter initialisation in
``nn.Linear``/``nn.Conv2d``, ``torch.randn``, ``torch.randperm``, the data loader's
shuffling seeds, dequantisation noise, an auxiliary loss's sampling) -- but the
global torch generators are never read or advanced.
"""

import inspect

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

# Functions and tensor methods that take ``generator=``: the first tensor argument (or
# ``device=``, else the default device) says on which device the numbers are drawn.
_FACTORIES = {torch.rand, torch.randn, torch.randint, torch.randperm}
_WITH_GENERATOR = _FACTORIES | {
    torch.rand_like, torch.randn_like, torch.randint_like, torch.normal, torch.bernoulli,
    torch.multinomial, torch.poisson, torch.binomial,
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.random_,
    torch.Tensor.bernoulli_, torch.Tensor.bernoulli, torch.Tensor.exponential_,
    torch.Tensor.cauchy_, torch.Tensor.log_normal_, torch.Tensor.geometric_,
    torch.Tensor.multinomial,
}
# torch.nn.init's random initialisers (what nn.Linear and nn.Conv2d use) dispatch as a
# whole, so they take the generator themselves; older torch has them without it.
_WITH_GENERATOR |= {
    f for f in (getattr(nn.init, name, None) for name in (
        "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
        "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_"))
    if f is not None and "generator" in inspect.signature(f).parameters
}
# Dropout draws inside a C++ kernel with no generator argument: here its mask is drawn
# from the fit's generator instead (same distribution, this fit's stream). The
# "feature" variants drop whole channels.
_DROPOUT = {F.dropout: 0, F.dropout1d: 1, F.dropout2d: 1, F.dropout3d: 1}
# Random ops that cannot take a generator at all: refused rather than drawn globally.
_REFUSED = {F.alpha_dropout, F.feature_alpha_dropout, F.rrelu, torch.rrelu}


def _device_of(func, args, kwargs):
    if kwargs.get("device") is not None:
        return torch.device(kwargs["device"])
    if func not in _FACTORIES:
        for a in args:
            if isinstance(a, torch.Tensor):
                return a.device
    get_default = getattr(torch, "get_default_device", None)  # torch >= 2.3
    return get_default() if get_default is not None else torch.device("cpu")


class PrivateRNG(TorchFunctionMode):
    """Within ``with PrivateRNG(seed):``, random draws without a ``generator`` use
    this object's generators (one per device, each seeded with ``seed``).

    The mode applies to the thread that entered it only. Use :meth:`generator` to
    pass a generator explicitly (e.g. to a data loader), and :meth:`get_state` /
    :meth:`set_state` to checkpoint the streams.

    Parameters
    ----------
    seed : int

    Examples
    --------
    >>> import torch
    >>> from skood.utils._rng import PrivateRNG
    >>> before = torch.get_rng_state()
    >>> with PrivateRNG(0):
    ...     a = torch.randn(3)
    >>> bool(torch.equal(a, torch.randn(3, generator=torch.Generator().manual_seed(0))))
    True
    >>> bool(torch.equal(torch.get_rng_state(), before))
    True
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)
        self._generators = {}

    def generator(self, device="cpu"):
        """This stream's generator on ``device`` (created and seeded on first use)."""
        device = torch.device(device)
        if device.type != "cpu" and device.index is None:
            module = getattr(torch, device.type, None)
            if module is not None and hasattr(module, "current_device"):
                device = torch.device(device.type, module.current_device())
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self.seed)
            self._generators[key] = gen
        return gen

    def get_state(self):
        """The state of every generator used so far, by device name."""
        return {key: gen.get_state() for key, gen in self._generators.items()}

    def set_state(self, state):
        """Restore states from :meth:`get_state`."""
        for key, value in state.items():
            self.generator(key).set_state(value)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _WITH_GENERATOR:
            if kwargs.get("generator") is None:
                kwargs["generator"] = self.generator(_device_of(func, args, kwargs))
            return func(*args, **kwargs)
        if func in _DROPOUT:
            return self._dropout(func, *args, **kwargs)
        if func in _REFUSED:
            raise RuntimeError(
                f"{func.__name__} draws from torch's global random generator, which skood's "
                "fits never use (so that fits in parallel threads stay reproducible); "
                "use dropout instead, or a module without random layers."
            )
        return func(*args, **kwargs)

    def _dropout(self, func, input, p=0.5, training=True, inplace=False):
        if not training or p == 0:
            return input
        if p == 1:
            return input.zero_() if inplace else input * 0
        if func is F.dropout:
            shape = input.shape
        else:
            batched = input.dim() >= {F.dropout1d: 3, F.dropout2d: 4, F.dropout3d: 5}[func]
            n_lead = 2 if batched else 1
            shape = (*input.shape[:n_lead], *(1,) * (input.dim() - n_lead))
        mask = torch.empty(shape, dtype=input.dtype, device=input.device).bernoulli_(
            1 - p, generator=self.generator(input.device))
        if inplace:
            return input.mul_(mask).div_(1 - p)
        return input * mask / (1 - p)
