"""The skorch pieces behind skood's density estimators (private)."""

import torch
from skorch import NeuralNet
from torch import nn

from ..exceptions import TrainingDivergedError


class DensityModule(nn.Module):
    """A pre-transform followed by a flow; ``forward`` returns log-likelihoods.

    The pre-transform's log-determinant is added to the first (data-facing) scale
    so that the per-scale terms always sum to the total log-likelihood.
    """

    def __init__(self, pre, flow):
        super().__init__()
        self.pre = pre
        self.flow = flow

    def outputs(self, x):
        y, logdet = self.pre(x)
        out = self.flow(y)
        per_scale = out.log_prob_per_scale
        out.log_prob_per_scale = torch.cat([per_scale[:, :1] + logdet[:, None], per_scale[:, 1:]], 1)
        out.log_prob = out.log_prob + logdet
        return out

    def forward(self, x):
        return self.outputs(x).log_prob

    def generate(self, latents, normalized=True):
        """Latents -> data space (inverse of the flow and of the pre-transform)."""
        return self.pre.inverse(self.flow.inverse(latents, normalized=normalized))


class NLLLoss(nn.Module):
    """Mean negative log-likelihood per dimension (nats/dim); skorch's dummy ``y`` is ignored."""

    def __init__(self, n_dims=1):
        super().__init__()
        self.n_dims = n_dims

    def forward(self, log_prob, y=None):
        return -log_prob.mean() / self.n_dims


class DensityNet(NeuralNet):
    """skorch net that clips gradients and skips steps with a non-finite loss or gradient.

    An epoch in which every step was skipped means training has diverged: it
    raises :class:`~skood.exceptions.TrainingDivergedError`.
    """

    def __init__(self, *args, max_grad_norm=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_grad_norm = max_grad_norm
        # Outlier loss (Schirrmeister et al. 2020): (x_gen, frozen log p_gen(x_gen)).
        self.outlier_data = None
        self.outlier_weight = 0.0
        self.outlier_temperature = 1.0

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        if self.outlier_data is not None:
            x_gen, lp_gen = self.outlier_data
            idx = torch.randint(0, x_gen.shape[0], (len(batch[0]),), device=x_gen.device)
            logit = (self.module_(x_gen[idx]) - lp_gen[idx]) / self.outlier_temperature
            loss = self.outlier_weight * nn.functional.softplus(logit).mean()
            loss.backward()
            step["loss"] = step["loss"] + loss.detach()
        return step

    def train_step(self, batch, **fit_params):
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        params = [p for p in self.module_.parameters() if p.grad is not None]
        finite = torch.isfinite(step["loss"])
        if params:
            finite = finite & torch.stack([torch.isfinite(p.grad).all() for p in params]).all()
        if bool(finite):
            if self.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            self.optimizer_.step()
            self._n_good_steps += 1
        else:
            self._n_skipped_steps += 1
        return step

    # skorch keeps the module instance we pass both as `module` and `module_`; only
    # `module_` goes through skorch's device-aware (GPU -> CPU) loader, so pickle it once.
    def __getstate__(self):
        state = super().__getstate__()
        if state.get("module") is not None and state["module"] is self.__dict__.get("module_"):
            state["module"] = None
            state["_module_is_fitted_module"] = True
        return state

    def __setstate__(self, state):
        same = state.pop("_module_is_fitted_module", False)
        super().__setstate__(state)
        if same:
            self.module = self.module_

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if not training:
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        self._n_good_steps = self._n_skipped_steps = 0
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        self.history.record("train_skipped_steps", self._n_skipped_steps)
        if self._n_good_steps == 0 and self._n_skipped_steps > 0:
            raise TrainingDivergedError(
                f"Training diverged at epoch {len(self.history)}: every step gave a non-finite "
                "loss or gradient. Try a lower learning rate (lr), a smaller max_grad_norm, "
                "dtype='float64', or check the input for extreme values."
            )
