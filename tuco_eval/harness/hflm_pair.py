"""`tuco_scaled`'s model_args to a loaded pair: the one pair loader, with HFLM loading the fine-tuned side.

The three steps of `tuco_eval.core.pair` (`plan_pair`: every check before a weight loads;
the fine-tuned weights; `finish_pair`: the base beside them, joined), where the fine-tuned side
is loaded by HFLM's own `__init__` (its dtype, device, parallelize, peft, ...), handed in as
`hflm_init` so that this module needs nothing of HFLM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tuco_eval.core.load_errors import friendly_load
from tuco_eval.core.pair import Pair, finish_pair, plan_pair, source_names
from tuco_eval.core.sources import (
    ModelSource,
    check_adapter_base,
    is_adapter_folder,
    load_tokenizer,
)

HflmInit = Callable[..., tuple[Any, Any]]  # HFLM.__init__ on the model being built -> (model, tokenizer)


def load_with_hflm(hflm_init: HflmInit, pretrained: Any, base: Any, kwargs: dict[str, Any], *, alpha: float,
                   check: bool, base_revision: str | None = None, base_gguf_file: str | None = None) -> Pair:
    """The pair of `pretrained` (an id, a folder, an adapter or a loaded model) and `base` (the same),
    HFLM's model_args in `kwargs` (what the plan takes is popped from it)."""
    trust = bool(kwargs.get("trust_remote_code", False))
    if isinstance(base, str):
        base = ModelSource(str(base), base_revision, base_gguf_file, trust)
    if isinstance(pretrained, str) and isinstance(base, ModelSource):
        finetuned = ModelSource(pretrained, kwargs.pop("revision", None), kwargs.pop("gguf_file", None), trust)
        plan = plan_pair(finetuned, base, adapter=kwargs.pop("peft", None),
                         tokenizer=kwargs.pop("tokenizer", None), adapter_base_check=check)
        model, tokenizer = _hflm_load(hflm_init, plan.finetuned, peft=plan.adapter, tokenizer=plan.tokenizer,
                                      **kwargs)
        return finish_pair(model, tokenizer, plan.base, base_tokenizer=plan.base_tokenizer,
                           alpha=alpha, sources=source_names(finetuned, base))
    # a loaded model on a side (the Python API): configs compared once both are loaded
    if isinstance(pretrained, str) and is_adapter_folder(pretrained) and not isinstance(base, ModelSource):
        if check:
            check_adapter_base(pretrained, getattr(base, "name_or_path", ""))
        kwargs["peft"], pretrained, base = pretrained, base, None  # the adapter rides on that model
    model, tokenizer = _hflm_load(hflm_init, pretrained, **kwargs)
    base_tokenizer = load_tokenizer(base, "base tokenizer") if isinstance(base, ModelSource) else None
    return finish_pair(model, tokenizer, base, base_tokenizer=base_tokenizer, alpha=alpha)


def _hflm_load(hflm_init: HflmInit, finetuned: ModelSource | Any, **kwargs: Any) -> tuple[Any, Any]:
    # HFLM's own loading of the fine-tuned side, its load errors made one line
    if isinstance(finetuned, ModelSource):
        kwargs.update({k: v for k, v in finetuned.from_pretrained_kwargs().items() if v is not None})
        finetuned = finetuned.name
    name = finetuned if isinstance(finetuned, str) else getattr(finetuned, "name_or_path", "model")
    return friendly_load(lambda: hflm_init(pretrained=finetuned, **kwargs), name, "fine-tuned model")
