"""Scaling in weight space (task arithmetic / ExPO / model soups): θ = θ_PT + α (θ_FT − θ_PT).

The mix is written into the fine-tuned model's own parameters, once per α, so it then runs as one
model at the cost of one pass. Only parameters that differ between the pair are touched; for
them θ_FT is kept aside (the one extra copy, on the parameter's device) so that α = 1 restores
it bit for bit, and θ_PT is read from the loaded base. A PEFT LoRA pair touches no weight at all:
its scaling (lora_alpha / r) is multiplied by α, which is the same θ_PT + α·ΔW; the adapter's
`modules_to_save` copies are mixed with their original modules like dense weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tuco_eval.core.layers import unwrap
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import parse_alpha


@dataclass
class _Slot:
    param: nn.Parameter  # the fine-tuned model's parameter, overwritten by the mix
    base: Tensor  # θ_PT, the loaded base's parameter (not a copy)
    saved: Tensor | None = None  # θ_FT, copied on the first α ≠ 1


@torch.no_grad()
def _mix(slots: list[_Slot], alpha: float) -> None:
    """Each slot's parameter := θ_PT + α(θ_FT − θ_PT), θ_FT saved aside on first use."""
    for slot in slots:
        if slot.saved is None:
            slot.saved = slot.param.detach().clone()
        torch.lerp(slot.base, slot.saved, alpha, out=slot.param.data)


@torch.no_grad()
def _restore(slots: list[_Slot]) -> None:
    for slot in slots:
        if slot.saved is not None:
            slot.param.data.copy_(slot.saved)


def _saved_bytes(slots: list[_Slot]) -> int:
    return sum(s.saved.numel() * s.saved.element_size() for s in slots if s.saved is not None)


class DenseWeightMix:
    """θ_PT + α(θ_FT − θ_PT) in place for a pair of full models of one architecture."""

    def __init__(self, model: nn.Module, base: nn.Module):
        self.model, self.base = unwrap(model), unwrap(base)
        self.alpha = 1.0  # the α the parameters hold now
        self._slots: list[_Slot] | None = None  # found on first use: activation mode pays nothing

    def _find_slots(self) -> list[_Slot]:
        base_params = dict(self.base.named_parameters())
        slots = []
        for name, param in self.model.named_parameters():
            base = base_params.get(name)
            if base is None or base.shape != param.shape:
                raise TucoError(
                    f"weights mode needs the same parameters on both sides; the base lacks "
                    f"{name} {tuple(param.shape)}"
                )
            base = base.detach().to(param.device, param.dtype)
            if not torch.equal(param.detach(), base):  # shared weights cost nothing
                slots.append(_Slot(param=param, base=base))
        return slots

    @torch.no_grad()
    def set(self, alpha: float) -> None:
        """Hold θ_PT + α(θ_FT − θ_PT); a no-op when already there, a plain copy back at α = 1."""
        alpha = parse_alpha(alpha)
        if alpha == self.alpha:
            return
        if alpha == 1.0:
            self.restore()
            return
        if self._slots is None:
            self._slots = self._find_slots()
        _mix(self._slots, alpha)
        self.alpha = alpha

    @torch.no_grad()
    def restore(self) -> None:
        """Put θ_FT back, bit-identical; the saved copy stays for the next α."""
        _restore(self._slots or [])
        self.alpha = 1.0

    def release(self) -> None:
        """Restore θ_FT and free the saved copy (when leaving weights mode)."""
        self.restore()
        self._slots = None

    def extra_bytes(self) -> int:
        """Bytes held beyond the pair: the saved θ_FT of the parameters that differ."""
        return _saved_bytes(self._slots or [])


class LoraWeightMix:
    """α scales each LoRA layer's `scaling`: W + α·s·BA = θ_PT + α(θ_FT − θ_PT), no weight copied."""

    def __init__(self, model: nn.Module):
        from peft.tuners.lora import LoraLayer
        from peft.tuners.tuners_utils import BaseTunerLayer

        tuners = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
        other = sorted({type(m).__name__ for m in tuners if not isinstance(m, LoraLayer)})
        if other:
            raise TucoError(
                f"weights mode scales LoRA adapters only, this one has {', '.join(other)}; "
                f"use mode=activation or mode=logits"
            )
        for layer in tuners:
            if any(layer.use_dora.values()) or getattr(layer, "merged", False):
                raise TucoError(
                    "weights mode needs an unmerged, non-DoRA LoRA adapter (DoRA's norm is not "
                    "linear in the scale); use mode=activation or mode=logits"
                )
        self.layers = tuners
        self.original = [dict(layer.scaling) for layer in tuners]  # lora_alpha / r, per adapter
        self.saved_modules = _saved_module_slots(model)  # modules_to_save: mixed like dense weights
        self.alpha = 1.0

    def set(self, alpha: float) -> None:
        alpha = parse_alpha(alpha)
        if alpha == self.alpha:
            return
        for layer, original in zip(self.layers, self.original, strict=True):
            layer.scaling.update({name: value * alpha for name, value in original.items()})
        if alpha == 1.0:
            _restore(self.saved_modules)
        else:
            _mix(self.saved_modules, alpha)
        self.alpha = alpha

    def restore(self) -> None:
        for layer, original in zip(self.layers, self.original, strict=True):
            layer.scaling.update(original)
        _restore(self.saved_modules)
        self.alpha = 1.0

    def release(self) -> None:
        self.restore()

    def extra_bytes(self) -> int:
        """Bytes held beyond the pair: θ_FT of the adapter's saved modules, once mixed."""
        return _saved_bytes(self.saved_modules)


def _saved_module_slots(model: nn.Module) -> list[_Slot]:
    """A slot per parameter of each active `modules_to_save` copy, its base the original module's."""
    from peft.utils.other import ModulesToSaveWrapper

    slots = []
    for wrapper in model.modules():
        if not isinstance(wrapper, ModulesToSaveWrapper) or wrapper.disable_adapters:
            continue
        active = wrapper.active_adapters[0] if wrapper.active_adapters else None
        if active not in wrapper.modules_to_save:  # an adapter without a copy here: passed through
            continue
        copy = wrapper.modules_to_save[active]  # the one its forward runs
        pairs = zip(copy.parameters(), wrapper.original_module.parameters(), strict=True)
        slots += [_Slot(param=p, base=b.detach()) for p, b in pairs if not torch.equal(p, b)]
    return slots


def weight_mix_for(model: nn.Module, base: nn.Module | None) -> DenseWeightMix | LoraWeightMix:
    """The weight mixer of a pair: dense with a loaded base, LoRA scaling with a PEFT adapter."""
    return DenseWeightMix(model, base) if base is not None else LoraWeightMix(model)
