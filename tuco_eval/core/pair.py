"""Load and validate a (fine-tuned, pre-trained) pair; build the base blocks the joint pass runs.

The fine-tuned side is a model (Hub id, local folder, or GGUF file in a folder) or a PEFT adapter
folder on top of the base; with an adapter the base weights are held once and the base blocks are
the same modules with the adapter switched off.

One loader in three steps, shared by `load_pair` and lm-eval's `tuco_scaled`: `plan_pair`
refuses what it can before any weights load (the adapter's recorded base, configs, tokenizers);
the caller loads the fine-tuned side's weights (`load_finetuned` here, HFLM there, so that
lm-eval's own loading options apply); `finish_pair` loads the base beside them (same dtype,
attention and placement) and joins the two.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from tuco_eval.core.adapter_off import AdapterSet, AdaptersOff, check_switchable, switches
from tuco_eval.core.joint import BlockFn, Joint
from tuco_eval.core.layers import find_blocks, unwrap
from tuco_eval.core.load_errors import friendly_load
from tuco_eval.core.positions import base_positions
from tuco_eval.core.sources import (
    ModelSource,
    adapter_tokenizer,
    as_source,
    check_adapter_base,
    load_config,
    load_tokenizer,
    load_weights,
)
from tuco_eval.util.errors import TucoError, warn

# Config fields that must agree between the two models of a pair: they set tensor shapes (or the
# architecture) on one side that the other side's tensors must match. Fields that only change what
# a model computes above its blocks (rotary settings, sliding windows, layer types) may differ:
# the base then computes its own (tuco_eval.core.positions).
SHAPE_FIELDS = (
    "model_type", "num_hidden_layers", "hidden_size", "vocab_size", "num_attention_heads",
    "num_key_value_heads", "head_dim", "intermediate_size", "num_local_experts", "num_experts",
    "moe_intermediate_size",
)
_ALIASES = {"num_hidden_layers": "n_layer", "hidden_size": "n_embd", "num_attention_heads": "n_head",
            "intermediate_size": "n_inner"}  # GPT-2 style names


def _field(config: Any, name: str) -> Any:
    text = getattr(config, "text_config", None)
    for source in (config, text):
        value = getattr(source, name, None) if source is not None else None
        if value is not None:
            return value
    return getattr(config, _ALIASES.get(name, name), None)


def check_configs(finetuned: Any, base: Any) -> None:
    """Same architecture and tensor shapes (SHAPE_FIELDS), or a TucoError naming both values."""
    for name in SHAPE_FIELDS:
        ft_value, base_value = _field(finetuned, name), _field(base, name)
        if ft_value != base_value:
            raise TucoError(
                f"the pair does not match: {name} is {ft_value!r} for the fine-tuned model and "
                f"{base_value!r} for the base; TuCo needs the same architecture on both sides"
            )


def check_tokenizers(finetuned: Any, base: Any) -> None:
    """Identical vocabularies (token → id), or a TucoError naming a differing token."""
    ft_vocab, base_vocab = finetuned.get_vocab(), base.get_vocab()
    if ft_vocab == base_vocab:
        return
    if len(ft_vocab) != len(base_vocab):
        raise TucoError(
            f"the tokenizers differ: {len(ft_vocab)} tokens (fine-tuned) versus {len(base_vocab)} "
            f"(base); TuCo needs one tokenizer for both models"
        )
    token = next(t for t in sorted(ft_vocab) if base_vocab.get(t) != ft_vocab[t])
    raise TucoError(
        f"the tokenizers differ: token {token!r} has id {ft_vocab[token]} in the fine-tuned "
        f"tokenizer and {base_vocab.get(token)} in the base; TuCo needs one tokenizer for both"
    )


def base_device_map(finetuned: nn.Module) -> dict[str, Any] | None:
    """The base's device map: the fine-tuned one, so base block l sits beside fine-tuned block l."""
    device_map = getattr(unwrap(finetuned), "hf_device_map", None)
    return dict(device_map) if device_map and len(set(device_map.values())) > 1 else None


def load_base_model(source: str | ModelSource, *, like: PreTrainedModel) -> PreTrainedModel:
    """The pre-trained model, in the fine-tuned model's dtype, attention and placement."""
    source, model = as_source(source), unwrap(like)
    extra: dict[str, Any] = {"attn_implementation": model.config._attn_implementation}
    device_map = base_device_map(like)
    if device_map:
        extra["device_map"] = device_map
    base = load_weights(source, "base model", dtype=model.dtype, **extra)
    if not device_map:
        base.to(model.device)
    return base


def is_peft_model(model: nn.Module) -> bool:
    return callable(getattr(model, "get_base_model", None)) and hasattr(model, "peft_config")


def base_blocks_for(finetuned: nn.Module, base: nn.Module | None) -> list[BlockFn]:
    """The base block callables: a separate model's blocks, or the adapter-disabled shared blocks."""
    if base is None:
        if not is_peft_model(finetuned):
            raise TucoError(
                "without a separate base model the fine-tuned side must be a PEFT adapter"
            )
        check_switchable(finetuned)
        # the PEFT layers of each block found once: this switch runs per block per forward
        return [AdaptersOff(block).wrap(block.forward) for block in find_blocks(finetuned)]
    # .forward bypasses module hooks: a base block never triggers the fine-tuned hooks or recorders
    return [block.forward for block in find_blocks(base)]


def join(finetuned: nn.Module, base: nn.Module | None, alpha: float = 1.0) -> Joint:
    """The joint pass of a loaded pair; the base computes its own positions where the configs differ.

    With a PEFT adapter, the base blocks are found again at the first pass after the loaded or
    active adapters change (`load_adapter`, `set_adapter`, ...); `join` again gives a fresh joint too.
    """
    joint = Joint(finetuned, base_blocks_for(finetuned, base), alpha=alpha,
                  positions=base_positions(finetuned, base), same_blocks=adapter_free_blocks(finetuned, base))
    if base is None:
        adapters = AdapterSet(finetuned)
        joint.refresh = lambda: _adapter_blocks(finetuned) if adapters.changed() else None
    return joint


def _adapter_blocks(model: nn.Module) -> tuple[list[BlockFn], frozenset[int]]:
    return base_blocks_for(model, None), adapter_free_blocks(model, None)


def adapter_free_blocks(finetuned: nn.Module, base: nn.Module | None) -> frozenset[int]:
    """Blocks of a PEFT model without any adapter layer (e.g. LoRA's layers_to_transform): there
    the base block is the fine-tuned block, and the joint pass runs it once."""
    if base is not None:
        return frozenset()
    return frozenset(i for i, block in enumerate(find_blocks(finetuned)) if not switches(block))


def pair_warnings(
    finetuned: nn.Module,
    base: nn.Module | None,
    ft_tokenizer: Any = None,
    base_tokenizer: Any = None,
) -> list[str]:
    """Things that are legal but probably not what the user meant; each one line."""
    notes = []
    if _identical(finetuned, base):
        notes.append(
            "the fine-tuned model is identical to the base: TuCo is 0 and α changes nothing"
        )
    ft_template = getattr(ft_tokenizer, "chat_template", None)
    base_template = getattr(base_tokenizer, "chat_template", None)
    if ft_template and base_template and ft_template != base_template:
        notes.append(
            "the two tokenizers have different chat templates; tuco-eval uses the fine-tuned one"
        )
    return notes


def _identical(finetuned: nn.Module, base: nn.Module | None) -> bool:
    if base is None:  # a PEFT adapter whose LoRA B matrices are all zero changes nothing
        lora_b = [p for name, p in finetuned.named_parameters() if "lora_B" in name]
        only_lora = all(hasattr(m, "lora_B") for m in switches(finetuned))  # no saved modules
        return bool(lora_b) and only_lora and all(not p.any() for p in lora_b)
    ft_params, base_params = find_blocks(finetuned).parameters(), find_blocks(base).parameters()
    return all(torch.equal(a, b.to(a.device)) for a, b in zip(ft_params, base_params, strict=True))


@dataclass
class Pair:
    """A loaded pair: the fine-tuned model (maybe a PeftModel), its tokenizer, the base, the joint."""

    model: nn.Module
    tokenizer: Any
    base: nn.Module | None  # None when the base weights are shared through a PEFT adapter
    joint: Joint
    sources: dict[str, str] = field(default_factory=dict)  # revisions and GGUF files it came from


def pair_identity(pair: Pair) -> dict[str, Any]:
    """What names a loaded pair in a resume key: the paths it was loaded from and, for a PEFT
    adapter (whose folder the loaded model does not record), a digest of the adapter weights."""
    identity: dict[str, Any] = {
        "finetuned": unwrap(pair.model).name_or_path,
        "base": None if pair.base is None else pair.base.name_or_path,
        **pair.sources,  # another revision of the same id is another model
    }
    if pair.base is None:
        from peft.utils import get_peft_model_state_dict

        digest = hashlib.sha256()
        # the adapter's own weights name it; "auto" would look the base's config up on the Hub
        state = get_peft_model_state_dict(pair.model, save_embedding_layers=False)
        for name, tensor in sorted(state.items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        identity["adapter_sha256"] = digest.hexdigest()
    return identity


@dataclass(frozen=True)
class PairPlan:
    """A pair checked before any weights load."""

    finetuned: ModelSource  # whose weights carry the fine-tuned side (an adapter's: the base's)
    base: ModelSource | None  # the separate base to load beside it; None: the adapter's own base
    adapter: str | None  # a PEFT adapter to put on `finetuned`'s weights
    tokenizer: Any  # the fine-tuned side's (an adapter folder's own, else the base's)
    base_tokenizer: Any


def plan_pair(
    finetuned: ModelSource,
    base: ModelSource,
    *,
    adapter: str | None = None,
    tokenizer: Any = None,
    adapter_base_check: bool = True,
) -> PairPlan:
    """What to load, and every refusal possible before a weight loads. `finetuned` is a model or
    an adapter folder (then it rides on the base's weights); `adapter` puts one on `finetuned`
    (lm-eval's `peft=`: on the base itself when `finetuned` names the base); `tokenizer` (an
    object or a name) replaces the fine-tuned side's."""
    if isinstance(tokenizer, str):
        source = ModelSource(tokenizer, trust_remote_code=finetuned.trust_remote_code)
        tokenizer = load_tokenizer(source, "tokenizer")
    if finetuned.is_adapter:
        adapter, finetuned = finetuned.name, base
        if adapter_base_check:
            check_adapter_base(adapter, base.name)
    if adapter and finetuned.name == base.name:  # one set of weights: the adapter's base is the base
        base_tokenizer = load_tokenizer(base, "base tokenizer")
        own = tokenizer if tokenizer is not None else adapter_tokenizer(adapter, base_tokenizer)
        return PairPlan(finetuned, None, adapter, own, base_tokenizer)
    check_configs(load_config(finetuned, "fine-tuned model"), load_config(base, "base model"))
    base_tokenizer = load_tokenizer(base, "base tokenizer")
    if tokenizer is None:
        tokenizer = load_tokenizer(finetuned, "fine-tuned tokenizer")
    check_tokenizers(tokenizer, base_tokenizer)
    return PairPlan(finetuned, base, adapter, tokenizer, base_tokenizer)


def load_finetuned(plan: PairPlan, dtype: str = "float32", device: str = "cpu") -> nn.Module:
    """The fine-tuned side's weights, with the plan's adapter on them."""
    what = "base model" if plan.base is None else "fine-tuned model"
    model = load_weights(plan.finetuned, what, dtype=dtype).to(device)
    if plan.adapter is None:
        return model
    from peft import PeftModel

    with warnings.catch_warnings():  # peft probes a transformers attribute deprecated in v5
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        peft_model = friendly_load(lambda: PeftModel.from_pretrained(model, plan.adapter), plan.adapter, "adapter")
    return peft_model.eval()


def finish_pair(
    model: nn.Module,
    tokenizer: Any,
    base: ModelSource | nn.Module | None,
    *,
    base_tokenizer: Any = None,
    alpha: float = 1.0,
    sources: dict[str, str] | None = None,
) -> Pair:
    """The pair of a loaded fine-tuned model: `base` loaded beside it (a source), checked (a model
    already loaded), or None (a PEFT model whose adapter switched off is the base); then joined."""
    if isinstance(base, ModelSource):
        base_model = load_base_model(base, like=model)
    elif base is not None:
        check_configs(unwrap(model).config, base.config)
        base_model = base.eval()
    else:
        base_model = None
    for note in pair_warnings(model, base_model, tokenizer, base_tokenizer):
        warn(note)
    return Pair(model, tokenizer, base_model, join(model, base_model, alpha), dict(sources or {}))


def source_names(finetuned: ModelSource, base: ModelSource) -> dict[str, str]:
    """The revisions and GGUF files a pair came from (part of its resume identity)."""
    names = {"revision": finetuned.revision, "base_revision": base.revision,
             "gguf_file": finetuned.gguf_file, "base_gguf_file": base.gguf_file}
    return {key: value for key, value in names.items() if value}


def load_pair(
    finetuned: str | ModelSource,
    base: str | ModelSource,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    revision: str | None = None,
    base_revision: str | None = None,
    gguf_file: str | None = None,
    base_gguf_file: str | None = None,
    trust_remote_code: bool = False,
    adapter_base_check: bool = True,
    alpha: float = 1.0,
) -> Pair:
    """Load, validate and join a pair. `finetuned` may be a PEFT adapter folder on top of `base`.
    Each side is a name with its `revision` / `gguf_file` (the base's: `base_...`), or a
    `ModelSource`. Configs and tokenizers are compared before any weights load."""
    ft = _source(finetuned, revision, gguf_file, trust_remote_code)
    pt = _source(base, base_revision, base_gguf_file, trust_remote_code)
    plan = plan_pair(ft, pt, adapter_base_check=adapter_base_check)
    model = load_finetuned(plan, dtype, device)
    return finish_pair(model, plan.tokenizer, plan.base, base_tokenizer=plan.base_tokenizer, alpha=alpha,
                       sources=source_names(ft, pt))


def _source(value: str | ModelSource, revision: str | None, gguf_file: str | None, trust: bool) -> ModelSource:
    return value if isinstance(value, ModelSource) else ModelSource(str(value), revision, gguf_file, trust)
