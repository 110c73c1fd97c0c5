"""The base side of a PEFT pair: the same modules with every adapter switched off, or refused.

peft marks each of its layers with a `_disable_adapters` flag that its forward reads: the tuner
layers (LoRA, DoRA, IA³, LoHa, ..., trainable tokens; `BaseTunerLayer`) and the wrappers of
`modules_to_save` and trainable tokens (`AuxiliaryTrainingWrapper`). Setting it on all of them is
what `PeftModel.disable_adapter()` does; here the modules are found once, so the per-block switch
of the joint pass costs two short loops. One switch serves the TuCo base blocks, the logits and
weights modes' base pass, the KL measures and OutputCo. Adapters that this switch cannot turn
back into the base (prompt learning, biases trained in place, merged or replicated layers) are
refused at load by `check_switchable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tuco_eval.util.errors import TucoError


def switches(module: nn.Module) -> tuple[nn.Module, ...]:
    """Every peft layer under `module` whose `_disable_adapters` flag its forward reads."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    kinds = (BaseTunerLayer, AuxiliaryTrainingWrapper)
    return tuple(m for m in module.modules() if isinstance(m, kinds))


class AdaptersOff:
    """`with off:` runs the modules found under `module` (once, here) with their adapters off."""

    __slots__ = ("switches", "_saved")

    def __init__(self, module: nn.Module):
        self.switches = switches(module)
        self._saved: list[list[bool]] = []  # a stack: nested use restores each level's flags

    def __enter__(self) -> None:
        self._saved.append([m._disable_adapters for m in self.switches])
        for m in self.switches:
            m._disable_adapters = True

    def __exit__(self, *exc: object) -> None:
        for m, was in zip(self.switches, self._saved.pop(), strict=True):
            m._disable_adapters = was

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` (a block's or the model's forward) run with the adapters off."""

        found = self.switches

        def forward(*args: Any, **kwargs: Any) -> Any:
            previous = [m._disable_adapters for m in found]  # inline, not `with self`: per block
            for m in found:
                m._disable_adapters = True
            try:
                return fn(*args, **kwargs)
            finally:
                for m, was in zip(found, previous, strict=True):
                    m._disable_adapters = was

        return forward


class AdapterSet:
    """Which adapters a PEFT model has loaded and which are active, as when last asked.

    The switches above are found once; `load_adapter`, `add_adapter`, `delete_adapter` or
    `set_adapter` afterwards can wrap other modules. `changed()` compares the loaded configs (by
    identity) and the active names, a dictionary and a list: cheap enough to ask at every pass.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._seen = self._now()

    def _now(self) -> tuple[list[tuple[str, Any]], list[str]]:
        configs = getattr(self.model, "peft_config", None) or {}
        return list(configs.items()), list(getattr(self.model, "active_adapters", None) or ())

    def changed(self) -> bool:
        """Whether the adapter set differs from the last call's (or from construction)."""
        now = self._now()
        (configs, active), (seen, seen_active) = now, self._seen
        same = active == seen_active and len(configs) == len(seen) and all(
            name == old_name and config is old for (name, config), (old_name, old) in zip(configs, seen, strict=True)
        )
        self._seen = now
        return not same


def check_switchable(model: nn.Module) -> None:
    """A TucoError, at load, for a PEFT model whose adapters off would not be the base model."""
    configs = getattr(model, "peft_config", {}) or {}
    for name, config in configs.items():
        kind = str(getattr(getattr(config, "peft_type", None), "value", None) or type(config).__name__)
        if getattr(config, "is_prompt_learning", False) or getattr(config, "is_adaption_prompt", False):
            _refuse(f"the adapter '{name}' is {kind}, a prompt-learning adapter: it adds virtual tokens "
                    f"or prompts, not layers that can be switched off block by block")
        if getattr(config, "bias", "none") not in ("none", None):
            _refuse(f"the {kind} adapter '{name}' trains the base layers' biases in place "
                    f"(bias={config.bias!r}): switching it off does not give the base back")
        if getattr(config, "layer_replication", None):
            _refuse(f"the {kind} adapter '{name}' replicates layers (layer_replication): the base "
                    f"has fewer blocks than the adapted model")
    if any(getattr(m, "merged", False) for m in switches(model)):
        _refuse("the adapter is merged into the base weights: switching it off would unmerge it "
                "in every forward")


def _refuse(problem: str) -> None:
    raise TucoError(f"{problem}; tuco-eval supports unmerged LoRA-family adapters (LoRA, DoRA, "
                    f"IA³, ..., with modules_to_save or trainable tokens), or merge the adapter "
                    f"and pass the merged model as pretrained")
