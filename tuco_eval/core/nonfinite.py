"""NaN and inf: the final check on what the harness hands back, and where a bad value first appeared.

The check reads only: a device flag per `generate` step on the output logits (no sync per step),
and each log-likelihood handed to lm-eval. When it fails, the failed pass is run once more with a
read-only probe after each block, the final norm (the output of the module that holds the blocks)
and the head, of the fine-tuned model and, in logits mode, of the base model's pass; the first
stage whose output held NaN or inf names the place. A finite pass never reaches the probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from tuco_eval.core.layers import find_blocks, unwrap
from tuco_eval.core.positions import owner_of

if TYPE_CHECKING:
    from tuco_eval.core.joint import Joint

BASE = "the base model's "
AFTER_HEAD = "after the head: every block, the final norm and the head were finite on a rerun"


def nonfinite(values: Tensor) -> Tensor:
    """A device flag: whether `values` hold NaN or ±inf. One min/max reduction, no sync; NaN
    propagates through it (torch.aminmax); about 10x faster than `isfinite(...).all()` on a CPU."""
    low, high = torch.aminmax(values)
    return ~(torch.isfinite(low) & torch.isfinite(high))


def stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(label, module) in the order a forward runs them: each block, the final norm, the head."""
    inner = unwrap(model)
    blocks = find_blocks(inner)
    named = [(f"block {index} of {len(blocks)}", block) for index, block in enumerate(blocks)]
    named.append(("the final norm", owner_of(blocks, inner)))
    head = inner.get_output_embeddings()
    return [*named, ("the head", head)] if head is not None else named


def _output_tensor(output: Any) -> Any:
    if hasattr(output, "last_hidden_state"):  # the module above the blocks: after its final norm
        return output.last_hidden_state
    return output[0] if isinstance(output, tuple) else output


def first_nonfinite(run: Callable[[], object], model: nn.Module, base: nn.Module | None = None) -> str | None:
    """The label of the first stage whose output held NaN/inf while `run()` (a rerun of the failed
    pass) went through `model`, then `base` (logits mode); None if every stage was finite.

    A PEFT model's base pass (logits mode) runs the fine-tuned modules again with the adapter off:
    what they output after the fine-tuned head has run is labelled as the base model's.
    """
    found: list[str] = []
    head = unwrap(model).get_output_embeddings()
    heads_run = [0]

    def probe(label: str, own: bool) -> Callable:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            value = _output_tensor(output)
            if not found and isinstance(value, Tensor) and not bool(torch.isfinite(value).all()):
                found.append((BASE if not own or heads_run[0] else "") + label)
            if module is head:
                heads_run[0] += 1

        return hook

    probed = [(label, module, True) for label, module in stages(model)]
    probed += [(label, module, False) for label, module in (stages(base) if base is not None else [])]
    handles = [module.register_forward_hook(probe(label, own)) for label, module, own in probed]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def where_in(rows: Sequence[Tensor], run: Callable[[Tensor], object], joint: Joint,
             base: nn.Module | None = None) -> str:
    """Where NaN/inf first appears when `run(ids)` passes each of `rows` ([1, T] ids) through
    `joint.model` again (and `base`, logits mode): the joint's own block flags of that rerun first
    (they see both sides of a block), else the first probed stage; the text of the error."""
    for ids in rows:
        label = first_nonfinite(lambda ids=ids: run(ids), joint.model, base)
        block = joint.first_nonfinite_block()
        label = f"block {block} of {len(joint.blocks)}" if block is not None else label
        if label is not None:
            return f"first in the output of {label}"
    return AFTER_HEAD


@contextmanager
def logits_flag(model: nn.Module, flag: list[Tensor]) -> Iterator[None]:
    """For the block, `flag` holds a device flag set when any forward of `model` returns NaN/inf
    logits (read with `is_set` after the block: one sync, not one per generation step)."""

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        logits = getattr(output, "logits", None)
        if isinstance(logits, Tensor):
            bad = nonfinite(logits)
            flag[:] = [bad if not flag else flag[0] | bad.to(flag[0].device)]

    handle = unwrap(model).register_forward_hook(hook)  # after any hook that rewrites the logits
    try:
        yield
    finally:
        handle.remove()


def is_set(flag: list[Tensor]) -> bool:
    return bool(flag) and bool(flag[0])


def finite_answer(answer: Any) -> bool:
    """Whether an answer lm-eval gets is finite: a log-likelihood, (log-likelihood, greedy), or text."""
    value = answer[0] if isinstance(answer, tuple) else answer
    return not isinstance(value, float) or math.isfinite(value)


class FiniteCacheHook:
    """lm-eval's cache hook, storing only finite answers: HFLM stores each answer as it computes it,
    before the final check of its batch could refuse it, and a stored NaN would be reused unchecked."""

    def __init__(self, hook: Any):
        self.hook = hook
        self.dbdict = getattr(hook, "dbdict", None)

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        if finite_answer(res):
            self.hook.add_partial(attr, req, res)
