"""The skorch pieces behind skood's density estimators.

Training is customised only through skorch's public API: the module is built by
skorch from a class and ``module__*`` parameters (:class:`FlowDensityModule`),
an auxiliary loss (e.g. Schirrmeister et al.'s outlier loss) enters through
``get_loss``, and skipping non-finite steps is a callback placed before skorch's
own ``GradientNormClipping``.
"""

import json
import os

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.history import History
from torch import nn

from ..exceptions import TrainingDivergedError
from ..flows import (
    DensityModule,
    LogitTransform,
    PixelDequantization,
    PreTransformChain,
    Standardization,
)


class FlowDensityModule(DensityModule):
    """A :class:`~skood.flows.DensityModule` built from plain parameters (skorch's ``module__*``).

    Parameters
    ----------
    flow_class : type
        Flow class, e.g. :class:`~skood.flows.Glow`.
    flow_params : dict
        Its constructor arguments.
    pixel_max : float or None
        Pixel data in ``[0, pixel_max]``: dequantization in front of the flow.
        ``None``: continuous data, standardised with ``mean`` and ``scale``.
    logit_alpha : float or None
        Pixel data only: a logit layer after dequantization.
    mean, scale : ndarray of shape (n_features,) or None
        Standardisation of continuous data.
    dtype : torch.dtype
    """

    def __init__(self, *, flow_class, flow_params, pixel_max=None, logit_alpha=None, mean=None,
                 scale=None, dtype=torch.float32):
        if pixel_max is None:
            pre = Standardization(mean, scale)
        else:
            pre = PixelDequantization(pixel_max)
            if logit_alpha is not None:
                pre = PreTransformChain(pre, LogitTransform(logit_alpha, shift=0.5))
        super().__init__(pre, flow_class(**flow_params))
        self.to(dtype)


class NLLLoss(nn.Module):
    """Mean negative log-likelihood per dimension (nats/dim); skorch's dummy ``y`` is ignored."""

    def __init__(self, n_dims=1):
        super().__init__()
        self.n_dims = n_dims

    def forward(self, log_prob, y=None):
        return -log_prob.mean() / self.n_dims


class DensityNet(NeuralNet):
    """skorch net whose training loss may carry an auxiliary term.

    Parameters
    ----------
    auxiliary_loss : callable or None, default=None
        ``auxiliary_loss(module, n_rows) -> scalar tensor`` added to the training
        loss of every batch (``n_rows``: the batch size), e.g. an outlier loss on
        another sample.
    rng : PrivateRNG or None, default=None
        The fit's random streams (:class:`skood.utils._rng.PrivateRNG`): the data
        loaders' shuffling and seeds, the dequantisation noise and the auxiliary
        loss's draws come from them instead of torch's global generator. Only the
        draws are routed (the loaders' first batch, the auxiliary loss): the flow's
        forward and backward passes run without the mode's per-operation cost.
    **kwargs
        :class:`skorch.NeuralNet`'s parameters.
    """

    def __init__(self, *args, auxiliary_loss=None, rng=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.auxiliary_loss = auxiliary_loss
        self.rng = rng

    def get_iterator(self, dataset, training=False):
        loader = super().get_iterator(dataset, training=training)
        return loader if self.rng is None else _PrivateLoader(loader, self.rng)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train as :meth:`skorch.NeuralNet.partial_fit`, but let ``KeyboardInterrupt`` through.

        skorch's own ``partial_fit`` catches ``KeyboardInterrupt`` and returns a
        partly trained net as if training had finished; here an interrupted fit
        stops with the exception, so the caller never mistakes it for a fitted model.
        """
        if not self.initialized_:
            self.initialize()
        noisy = [m for m in self.module_.modules() if isinstance(m, PixelDequantization)]
        if self.rng is not None:
            for m in noisy:
                m.generator = self.rng.generator(self.device)
        try:
            self.notify("on_train_begin", X=X, y=y)
            try:
                self.fit_loop(X, y, **fit_params)
            except StopTraining:
                pass
            self.notify("on_train_end", X=X, y=y)
        finally:
            for m in noisy:
                m.generator = None
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training and self.auxiliary_loss is not None:
            if self.rng is None:
                loss = loss + self.auxiliary_loss(self.module_, len(y_pred))
            else:
                with self.rng:
                    loss = loss + self.auxiliary_loss(self.module_, len(y_pred))
        return loss


class _PrivateLoader:
    """A data loader whose random draws come from a :class:`PrivateRNG`.

    A torch ``DataLoader`` draws a base seed when it is iterated and its shuffling
    sampler draws its permutation on the first batch; both happen under the mode,
    the remaining batches are fetched without it.
    """

    def __init__(self, loader, rng):
        self.loader = loader
        self.rng = rng

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        if name in ("loader", "rng"):
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        with self.rng:
            it = iter(self.loader)
            try:
                first = next(it)
            except StopIteration:
                return
        yield first
        yield from it


class StopTraining(Exception):
    """Raised by a callback to end training normally (skorch uses ``KeyboardInterrupt``)."""


class EarlyStop(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, ending training with
    :class:`StopTraining` instead of ``KeyboardInterrupt`` (which is Ctrl-C's)."""

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            if self.misses_ == self.patience:
                raise StopTraining from None
            raise


class SkipNonFiniteSteps(Callback):
    """Drop the gradients of a step whose gradients are not all finite (the optimizer
    then skips it); an epoch in which every step was dropped raises
    :class:`~skood.exceptions.TrainingDivergedError`.

    Parameters
    ----------
    remedies : str
        The advice the error gives (only remedies that apply to this model).
    """

    def __init__(self, remedies=""):
        self.remedies = remedies

    def on_epoch_begin(self, net, **kwargs):
        self.n_good_, self.n_skipped_ = 0, 0

    def on_grad_computed(self, net, named_parameters, training=False, **kwargs):
        if not training:
            return
        params = [p for _, p in named_parameters if p.grad is not None]
        if params and bool(torch.stack([torch.isfinite(p.grad).all() for p in params]).all()):
            self.n_good_ += 1
            return
        for p in params:
            p.grad = None  # torch optimizers skip parameters without a gradient
        self.n_skipped_ += 1

    def on_epoch_end(self, net, **kwargs):
        net.history.record("train_skipped_steps", self.n_skipped_)
        if self.n_good_ == 0 and self.n_skipped_ > 0:
            raise TrainingDivergedError(
                f"Training diverged at epoch {len(net.history)}: every step gave a non-finite "
                f"loss or gradient. {self.remedies}"
            )


def _early_stopping_state(cb):
    """The early-stopping state a resumed fit continues from: plain numbers (as JSON)
    and the best weights (tensors), which ``torch.load(weights_only=True)`` reads."""
    scalars = {"misses_": int(cb.misses_), "dynamic_threshold_": float(cb.dynamic_threshold_),
               "best_epoch_": int(cb.best_epoch_)}
    return {"scalars": json.dumps(scalars), "weights": cb.best_model_weights_}


class EpochCheckpoint(Callback):
    """Save the training state after every completed epoch, and resume from it.

    The file holds the module's and the optimizer's ``state_dict``, the history,
    the state of the fit's random generators (which drive the batch shuffling and
    the dequantization noise) and the early-stopping counters, so that training
    resumed from it continues exactly as if it had not stopped. It is written
    atomically (a temporary file renamed over the previous one), read with
    ``torch.load(weights_only=True)``, which loads tensors and plain containers
    only, and tagged with a ``fingerprint`` of the model's parameters and data.

    Parameters
    ----------
    path : str
        Checkpoint file.
    fingerprint : str
        Identifies the fit the checkpoint belongs to.
    resume : dict or None
        A loaded checkpoint (:meth:`read`) to restore when training begins.
    rng : PrivateRNG or None, default=None
        The fit's random streams (:class:`skood.utils._rng.PrivateRNG`); ``None``:
        torch's global generators.
    """

    def __init__(self, path, fingerprint, resume=None, rng=None):
        self.path = path
        self.fingerprint = fingerprint
        self.resume = resume
        self.rng = rng

    @staticmethod
    def read(path, fingerprint):
        """The checkpoint at ``path`` if it belongs to the fit ``fingerprint``, else None."""
        if not os.path.exists(path):
            return None
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
            return None
        return state

    def on_train_begin(self, net, **kwargs):
        state = self.resume
        if state is None:
            return
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(json.loads(state["history"]))
        for _, cb in net.callbacks_:
            if isinstance(cb, EarlyStopping) and state["early_stopping"] is not None:
                saved = state["early_stopping"]
                for name, value in json.loads(saved["scalars"]).items():
                    setattr(cb, name, value)
                cb.best_model_weights_ = saved["weights"]
        if self.rng is not None:
            # "rng" is the CPU stream, "cuda_rng" the model device's (a list in
            # checkpoints written with the global generators: one state per GPU).
            self.rng.generator("cpu").set_state(state["rng"])
            cuda = state["cuda_rng"]
            if cuda is not None and _on_cuda(net) and torch.cuda.is_available():
                device = torch.device(net.device)
                if isinstance(cuda, (list, tuple)):
                    cuda = cuda[device.index or torch.cuda.current_device()]
                self.rng.generator(device).set_state(cuda)
            return
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def on_epoch_end(self, net, **kwargs):
        stopper = [cb for _, cb in net.callbacks_ if isinstance(cb, EarlyStopping)]
        state = {
            "fingerprint": self.fingerprint,
            "epoch": len(net.history),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(list(net.history)),
            "early_stopping": _early_stopping_state(stopper[0]) if stopper else None,
            "rng": self._cpu_state(),
            "cuda_rng": (self._cuda_state(net)
                         if net.module_ is not None and _on_cuda(net) else None),
        }
        tmp = f"{self.path}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def _cpu_state(self):
        return torch.get_rng_state() if self.rng is None else self.rng.generator("cpu").get_state()

    def _cuda_state(self, net):
        if self.rng is None:
            return torch.cuda.get_rng_state_all()
        return self.rng.generator(net.device).get_state()


def _on_cuda(net):
    return torch.device(net.device).type == "cuda"
