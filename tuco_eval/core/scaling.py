"""Three ways to scale fine-tuning by α behind one switch: activation (TuCo), logits, weights.

    activation  x_{l+1} = x_l + PTC_l + α·FTC_l          (the paper's; tuco_eval.core.joint)
    logits      ℓ = log_softmax(ℓ_PT + α(ℓ_FT − ℓ_PT))    (tuco_eval.core.logit_mix)
    weights     θ = θ_PT + α(θ_FT − θ_PT)                 (tuco_eval.core.weight_mix)

`Scaling.active(sums)` wraps one model call (scoring or `generate`) in the current mode at the
joint's α (or the call's own). In logits and weights modes the joint is called at α = 1 and only
records TuCo, if asked:
the TuCo logged there is that of the model pass itself (fine-tuned for logits, the mixed model
for weights) against the base. See docs/modes.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from tuco_eval.core.adapter_off import AdapterSet
from tuco_eval.core.base_pass import base_forward
from tuco_eval.core.joint import Joint, TucoSums
from tuco_eval.core.logit_mix import LogitMix
from tuco_eval.core.weight_mix import DenseWeightMix, LoraWeightMix, weight_mix_for
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import DEFAULT_MODE, MODES, parse_alpha, parse_mode, parse_modes

__all__ = ["DEFAULT_MODE", "MODES", "Scaling", "parse_mode", "parse_modes"]


class Scaling:
    """The mode switch of a loaded pair; the pair's α lives in `joint.alpha`, read once per call."""

    def __init__(
        self, model: nn.Module, base: nn.Module | None, joint: Joint, mode: Any = DEFAULT_MODE
    ):
        self.model, self.base, self.joint = model, base, joint
        positions = joint.positions  # where the configs differ above the blocks: the base's own layers, masks
        own_layers = positions.cache_layers if positions is not None else None
        own_masks = positions is not None and not positions.same_masks
        self.logit_mix = LogitMix(model, base_forward(model, base), own_layers, own_masks)
        self._weights: DenseWeightMix | LoraWeightMix | None = None  # built on first use
        self._adapters = AdapterSet(model) if base is None else None  # rebuilt once they change
        self._mode = parse_mode(mode)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: Any) -> None:
        mode = parse_mode(value)
        if self._mode == "weights" and mode != "weights":
            self.weights.release()  # θ_FT back before another mode reads the weights
        self._mode = mode

    @property
    def weights(self) -> DenseWeightMix | LoraWeightMix:
        stale = self._adapters is not None and self._adapters.changed()  # load_adapter, set_adapter, ...
        if stale and self._weights is not None:
            self._weights.release()  # the old layers' own scaling back before the new mix
            self._weights = None
        if self._weights is None:
            self._weights = weight_mix_for(self.model, self.base)
        return self._weights

    @contextmanager
    def active(self, sums: TucoSums | None = None, alpha: float | None = None) -> Iterator[None]:
        """One model call in the current mode at `alpha` (None: joint.alpha); TuCo into `sums` if given."""
        alpha = self.joint.alpha if alpha is None else parse_alpha(alpha)
        if self._mode == "activation":
            with self.joint.active(sums, alpha=alpha):
                yield
            return
        # the mode does the scaling: the joint, at α = 1, must not scale a second time
        if self._mode == "weights":
            self._refuse_mixed_positions(alpha)
            self.weights.set(alpha)  # lazily: a no-op while α is unchanged
            with self.joint.active(sums, alpha=1.0):
                yield
            return
        with self.logit_mix.active(alpha, lambda: self.joint.active(sums, alpha=1.0)):
            yield

    def _refuse_mixed_positions(self, alpha: float) -> None:
        # one mixed model has one config: which rotary tables and windows would θ_PT + α·δ use?
        if alpha != 1.0 and self.joint.positions is not None:
            raise TucoError(
                f"mode=weights at α={alpha} needs the two configs to agree above the blocks (they "
                f"differ in {', '.join(self.joint.positions.fields)}): use mode=activation or mode=logits"
            )

    def tuco_alpha(self) -> float:
        """The joint's α for a TuCo pass consistent with the mode (weights materialised first)."""
        if self._mode == "weights":
            self._refuse_mixed_positions(self.joint.alpha)
            self.weights.set(self.joint.alpha)
        return self.joint.alpha if self._mode == "activation" else 1.0

    @contextmanager
    def finetuned(self) -> Iterator[None]:
        """The plain fine-tuned model for the block (θ_FT restored in weights mode; re-mixed lazily)."""
        if self._mode == "weights" and self._weights is not None:
            self._weights.restore()
        yield

