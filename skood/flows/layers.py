"""Invertible building blocks shared by the Glow and tabular flows.

Every layer maps a 4-D tensor ``(N, C, H, W)`` and returns ``(y, logdet)`` with
``logdet`` of shape ``(N,)``; ``inverse(y)`` undoes ``forward``. Tabular data runs
through the same layers as ``(N, D, 1, 1)`` tensors, where a 1x1 convolution is a
dense layer.
"""

import contextlib
import math
import os
import weakref

import torch
import torch.nn.functional as F
from torch import nn

_LOG_2PI = math.log(2 * math.pi)


class Bijection(nn.Module):
    """The protocol of every invertible layer: ``forward(x) -> (y, logdet)``, ``inverse(y) -> x``.

    ``logdet`` has shape ``(N,)``: the log-absolute-determinant of ``dy/dx`` per sample.
    Layers compose with :class:`Compose`; nothing else sums log-determinants.
    """

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y):  # pragma: no cover - abstract
        raise NotImplementedError


class Compose(Bijection):
    """Bijections applied in order; log-determinants summed, inverses applied in reverse.

    Examples
    --------
    >>> import torch
    >>> from skood.flows import ActNorm, Compose, InvConv1x1
    >>> f = Compose(ActNorm(2), InvConv1x1(2)).eval()
    >>> x = torch.randn(3, 2, 4, 4)
    >>> y, logdet = f(x)
    >>> logdet.shape, torch.allclose(f.inverse(y), x, atol=1e-5)
    (torch.Size([3]), True)
    """

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def forward(self, x):
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y):
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


try:
    _CORES = len(os.sched_getaffinity(0))
except AttributeError:  # not on Linux
    _CORES = os.cpu_count() or 1


_channels_last = {"enabled": True}


@contextlib.contextmanager
def channels_last(enabled=True):
    """Turn the channels-last memory layout of the coupling networks on or off
    (process-wide, restored on exit); the values are the same either way.

    For benchmarks and debugging: on by default, where it is faster (see the
    conditions below). ``channels_last(False)`` runs every convolution on NCHW
    inputs, as a plain PyTorch model would.

    Examples
    --------
    >>> from skood.flows import channels_last
    >>> with channels_last(False):
    ...     pass  # flows here run their convolutions on NCHW inputs
    """
    saved = _channels_last["enabled"]
    _channels_last["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _channels_last["enabled"] = saved


def _conv_layout(x):
    """``x`` in the memory layout in which the coupling networks run fastest.

    On CPU, oneDNN's float32 convolutions run markedly faster (about 1.5x for a
    training step, up to 2x when scoring large batches) on channels-last inputs:
    NCHW inputs are reordered to and from its blocked layout in every call. The
    values are unchanged; float64 (the slower reference convolution, which is not
    faster channels-last), other devices and ``(N, D, 1, 1)`` tabular inputs (dense
    layers, where it gains nothing) keep their layout.

    Channels-last is also skipped when torch runs more threads than this process has
    cores: oversubscribed, its oneDNN path slows down far more than NCHW's (a Glow
    training step 94 ms -> 8.7 s, NCHW 107 -> 587 ms, five busy threads on two
    cores). Threads of other processes are not visible here: keep the total within
    the cores (:func:`skood.parallel.torch_threads`).
    """
    if (
        _channels_last["enabled"]
        and x.dtype == torch.float32
        and x.device.type == "cpu"
        and torch.get_num_threads() <= _CORES
        and x.dim() == 4
        and x.shape[2] * x.shape[3] > 1
    ):
        # = x.contiguous(memory_format=torch.channels_last), spelled with permutes
        # so that torch.func.vmap (LID's jacfwd) accepts it.
        return x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    return x


def squeeze(x):
    """Move each 2x2 spatial block into channels: (C, H, W) -> (4C, H/2, W/2)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze(x):
    """Inverse of :func:`squeeze`."""
    n, c, h, w = x.shape
    x = x.reshape(n, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, 2 * h, 2 * w)


class Squeeze(Bijection):
    """:func:`squeeze` as a volume-preserving bijection (log-determinant 0)."""

    def forward(self, x):
        return squeeze(x), x.new_zeros(x.shape[0])

    def inverse(self, y):
        return unsqueeze(y)


class ActNorm(Bijection):
    """Per-channel affine map ``y = (x + b) * exp(log_scale)``.

    Initialised from the first training batch it sees so that the batch leaves
    with zero mean and unit variance per channel (Kingma & Dhariwal, 2018).
    """

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        # Constant pixels (digit borders) would give log(0): floor the std.
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-3)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std))
        self.initialized.fill_(True)

    def forward(self, x):
        if self.training and not self.initialized:
            self.initialize(x)
        y = (x + self.bias) * torch.exp(self.log_scale)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return y, logdet.expand(x.shape[0])

    def inverse(self, y):
        return y * torch.exp(-self.log_scale) - self.bias


def _tensor_key(t):
    """What identifies the current value of ``t``: the object, its storage and its
    in-place version (bumped by optimizer steps, ``load_state_dict``, ``copy_``)."""
    return weakref.ref(t), t.data_ptr(), t._version, t.dtype, t.device


def _same_key(stored, tensors):
    return stored is not None and len(stored) == len(tensors) and all(
        ref() is t and (ptr, ver, dt, dev) == (t.data_ptr(), t._version, t.dtype, t.device)
        for (ref, ptr, ver, dt, dev), t in zip(stored, tensors)
    )


class InvConv1x1(Bijection):
    """Invertible 1x1 convolution, LU-parametrised: ``W = P L (U + diag(sign * exp(log_s)))``.

    ``P`` is a fixed permutation, ``L`` unit lower triangular, ``U`` strictly upper
    triangular; ``log|det W| = sum(log_s)`` per pixel.

    Speed: in eval mode without gradients (scoring) the weight and its inverse are
    computed once and reused until a parameter changes (an optimizer step,
    ``load_state_dict``, a device or dtype change). When the weight is differentiated
    and the layer is dense (``(N, D, 1, 1)`` inputs) with fewer rows than twice the
    features, the factors are applied to the batch instead of being multiplied into
    ``W`` (two ``N x D x D`` products rather than two ``D x D x D`` ones) and the
    permutation is an index, not a product.

    Examples
    --------
    >>> import torch
    >>> from skood.flows import InvConv1x1
    >>> layer = InvConv1x1(3).eval()
    >>> x = torch.randn(2, 3, 4, 4)
    >>> y, logdet = layer(x)
    >>> torch.allclose(layer.inverse(y), x, atol=1e-5)
    True
    >>> torch.allclose(logdet, 16 * torch.linalg.slogdet(layer.weight())[1], atol=1e-4)
    True
    """

    def __init__(self, channels):
        super().__init__()
        q = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))
        self._perm_cache = None  # (key, index)
        self._weight_cache = None  # (key, weight, inverse or None)

    def _state(self):
        return (self.lower, self.upper, self.log_s, self.perm, self.sign_s, self.mask, self.eye)

    def _use_cache(self):
        # Only when nothing is differentiated, and only on the module's own
        # parameters (torch.func.functional_call swaps in other tensors).
        return (
            not self.training
            and not torch.is_grad_enabled()
            and all(isinstance(p, nn.Parameter) for p in (self.lower, self.upper, self.log_s))
        )

    def _perm_index(self):
        """``idx`` with ``P @ M == M[idx]`` (``P`` is a permutation matrix)."""
        if not _same_key(self._perm_cache and self._perm_cache[0], (self.perm,)):
            self._perm_cache = ((_tensor_key(self.perm),), self.perm.argmax(1))
        return self._perm_cache[1]

    def _factors(self):
        # = lower * mask + eye and upper * mask.T + diag(sign_s * exp(log_s)), the
        # same numbers; tril / triu are single passes where the masked products were
        # two (one over a transposed, strided mask), in the backward pass too.
        lower = torch.tril(self.lower, -1)
        lower.diagonal().add_(1.0)
        upper = torch.triu(self.upper, 1)
        upper.diagonal().add_(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def _compose(self):
        lower, upper = self._factors()
        # P @ L @ U, with P applied as a row index (the same numbers: a permutation
        # matrix product only moves rows).
        return lower[self._perm_index()] @ upper

    def _cached(self, inverse=False):
        state = self._state()
        entry = self._weight_cache
        if entry is None or not _same_key(entry[0], state):
            with torch.no_grad():
                entry = ([_tensor_key(t) for t in state], self._compose(), None)
        if inverse and entry[2] is None:
            with torch.no_grad():
                entry = (entry[0], entry[1], torch.linalg.inv(entry[1]))
        self._weight_cache = entry
        return entry[2] if inverse else entry[1]

    def weight(self):
        """The weight ``W = P L U`` (reused while nothing is differentiated in eval mode)."""
        if self._use_cache():
            return self._cached()
        return self._compose()

    def _apply(self, fn, *args, **kwargs):
        # A device or dtype change gives the parameters new storage; drop the cache
        # (the keys would miss anyway) so that it does not pin the old tensors.
        self._weight_cache = self._perm_cache = None
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        self._weight_cache = self._perm_cache = None
        return super()._load_from_state_dict(*args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_weight_cache"] = state["_perm_cache"] = None  # weak references do not pickle
        return state

    def forward(self, x):
        n, c, h, w = x.shape
        logdet = (h * w * self.log_s.sum()).expand(n)
        if not self._use_cache() and h * w == 1 and 2 * c > n:
            # Dense layer, weight differentiated, few rows: x W^T = (x U^T L^T) P^T.
            lower, upper = self._factors()
            y = F.linear(F.linear(x.reshape(n, c), upper), lower)[:, self._perm_index()]
            return y.reshape(n, c, 1, 1), logdet
        return _mix_channels(x, self.weight()), logdet

    def inverse(self, y):
        w_inv = self._cached(inverse=True) if self._use_cache() else torch.linalg.inv(
            self.weight())
        return _mix_channels(y, w_inv)


def _mix_channels(x, w):
    """``F.conv2d(x, w[:, :, None, None])``: the 1x1 convolution of ``x`` with ``w``.

    In float32 a (batched) matrix product, several times faster than a convolution
    with so few channels; float64 keeps the convolution, so that its results stay
    bit-for-bit those of earlier versions.
    """
    if x.dtype == torch.float64:
        return F.conv2d(x, w.view(*w.shape, 1, 1))
    n, c, h, wd = x.shape
    if h * wd == 1:
        return F.linear(x.reshape(n, c), w).reshape(n, -1, 1, 1)
    return torch.matmul(w, x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)


class ZeroConv2d(nn.Module):
    """Zero-initialised convolution with a learned output scale ``exp(3 * logs)``.

    Starting at zero makes every coupling (and conditional prior) the identity
    (standard normal) at initialisation, which keeps deep flows trainable.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logs = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x):
        return self.conv(x) * torch.exp(3 * self.logs)


def _conditioner(in_channels, out_channels, hidden_channels, kernel_size):
    # In-place ReLUs on the convolution outputs (which no backward pass needs) save
    # allocating two hidden-size activations per coupling.
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden_channels, kernel_size, padding=kernel_size // 2),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden_channels, hidden_channels, 1),
        nn.ReLU(inplace=True),
        ZeroConv2d(hidden_channels, out_channels, kernel_size),
    )


class AffineCoupling(Bijection):
    """Affine coupling ``y_b = sigmoid(h + 2) * x_b + t`` with ``(t, h) = NN(x_a)``.

    The first ``C // 2`` channels condition, the rest are transformed. With a
    single channel there is nothing to condition on and the layer becomes a
    learned element-wise affine map (the network sees a constant input).
    """

    def __init__(self, channels, hidden_channels=64, kernel_size=3):
        super().__init__()
        self.n_cond = channels // 2
        self.n_trans = channels - self.n_cond
        self.net = _conditioner(
            max(self.n_cond, 1), 2 * self.n_trans, hidden_channels, kernel_size
        )

    def _shift_logscale(self, x_cond):
        if self.n_cond == 0:
            x_cond = x_cond.new_zeros(x_cond.shape[0], 1, *x_cond.shape[2:])
        h = self.net(_conv_layout(x_cond))
        return h[:, 0::2], F.logsigmoid(h[:, 1::2] + 2.0)

    def forward(self, x):
        x_cond, x_trans = x[:, : self.n_cond], x[:, self.n_cond :]
        shift, log_scale = self._shift_logscale(x_cond)
        y_trans = x_trans * torch.exp(log_scale) + shift
        return torch.cat([x_cond, y_trans], 1), log_scale.flatten(1).sum(1)

    def inverse(self, y):
        y_cond, y_trans = y[:, : self.n_cond], y[:, self.n_cond :]
        shift, log_scale = self._shift_logscale(y_cond)
        return torch.cat([y_cond, (y_trans - shift) * torch.exp(-log_scale)], 1)


class FlowStep(Compose):
    """One Glow step: ActNorm -> invertible 1x1 convolution -> affine coupling."""

    def __init__(self, channels, hidden_channels=64, kernel_size=3):
        super().__init__(
            ActNorm(channels),
            InvConv1x1(channels),
            AffineCoupling(channels, hidden_channels, kernel_size),
        )


class DiagonalGaussianPrior(nn.Module):
    """Learned per-dimension Gaussian ``N(mean, exp(log_std)^2)``, starting at N(0, I)."""

    def __init__(self, shape):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(1, *shape))
        self.log_std = nn.Parameter(torch.zeros(1, *shape))

    def params(self, cond, n):
        shape = (n, *self.mean.shape[1:])
        return self.mean.expand(shape), self.log_std.expand(shape)


class ConditionalGaussianPrior(nn.Module):
    """Glow's learned prior for factored-out latents: ``(mean, log_std) = ZeroConv(kept half)``."""

    def __init__(self, cond_channels, channels, kernel_size=3):
        super().__init__()
        self.net = ZeroConv2d(cond_channels, 2 * channels, kernel_size)

    def params(self, cond, n):
        h = self.net(cond)
        return h[:, 0::2], h[:, 1::2]


def gaussian_log_prob(z, mean, log_std):
    """Per-sample log-density of ``z`` under a diagonal Gaussian, and the normalised ``z``."""
    z_hat = (z - mean) * torch.exp(-log_std)
    log_prob = -0.5 * z_hat**2 - log_std - 0.5 * _LOG_2PI
    return log_prob.flatten(1).sum(1), z_hat
