"""Load and validate a (fine-tuned, pre-trained) pair; build the base blocks the joint pass runs.

The fine-tuned side is a model (Hub id, local folder, or GGUF file in a folder) or a PEFT adapter
folder on top of the base; with an adapter the base weights are held once and the base blocks are
the same modules with the adapter switched off.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from tuco_eval.core.adapter_off import AdapterSet, AdaptersOff, check_switchable, switches
from tuco_eval.core.joint import BlockFn, Joint
from tuco_eval.core.layers import find_blocks, unwrap
from tuco_eval.core.positions import base_positions
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


def friendly_load(load: Callable[[], Any], name: str, what: str) -> Any:
    """Run a transformers/peft loader; turn 'not found', 'gated', 'no weights' into one line."""
    try:
        return load()
    except TucoError:
        raise
    except Exception as err:  # transformers raises OSError/ValueError/HF errors with long texts
        kind = type(err).__name__
        text = str(err).strip().splitlines()[0] if str(err).strip() else kind
        if "Gated" in kind or "gated" in text or "401" in text:
            hint = "the repository is gated: accept its licence on the Hub and run `hf auth login`"
        elif (
            "RepositoryNotFound" in kind
            or "is not a local folder" in text
            or "not a valid model identifier" in text
        ):
            hint = "not a local folder and not found on the Hub (check the spelling or the path)"
        elif "does not appear to have" in text or "no file named" in text:
            hint = "the folder has no model weights (expected model.safetensors, pytorch_model.bin or a GGUF file)"
        elif (
            "offline" in text.lower() or "couldn't connect" in text or "LocalEntryNotFound" in kind
        ):
            hint = (
                "not in the local Hub cache, and the Hub is unreachable (HF_HUB_OFFLINE is set or "
                "no network)"
            )
            if not Path(name).exists():  # `org/name` could also be a mistyped local path
                hint = f"no local folder of that name; {hint}"
        else:
            hint = f"{kind}: {text}"
        raise TucoError(f"cannot load the {what} '{name}': {hint}") from None


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def adapter_base_name(adapter_dir: str | Path) -> str | None:
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    return config.get("base_model_name_or_path")


def check_adapter_base(adapter_dir: str | Path, base: str) -> None:
    """The adapter must have been trained on `base` (same id/path, or the same final path name)."""
    recorded = adapter_base_name(adapter_dir)
    if not recorded:
        return
    same = recorded.rstrip("/") == str(base).rstrip("/")
    same_name = Path(recorded.rstrip("/")).name.lower() == Path(str(base).rstrip("/")).name.lower()
    if not (same or same_name):
        raise TucoError(
            f"the adapter '{adapter_dir}' was trained on '{recorded}', but base='{base}'; pass the "
            f"matching base, or adapter_base_check=false if they are the same model"
        )


def load_config(
    name: str,
    *,
    what: str,
    revision: str | None = None,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
) -> Any:
    kwargs = _source_kwargs(revision, gguf_file, trust_remote_code)
    return friendly_load(lambda: AutoConfig.from_pretrained(name, **kwargs), name, what)


def _source_kwargs(revision: str | None, gguf_file: str | None, trust: bool) -> dict[str, Any]:
    """Where transformers reads a model from: the same for its config, tokenizer and weights."""
    kwargs: dict[str, Any] = dict(revision=revision, trust_remote_code=trust)
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    return kwargs


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


def load_base_model(
    name: str,
    *,
    like: PreTrainedModel,
    revision: str | None = None,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """The pre-trained model, in the fine-tuned model's dtype, attention and placement."""
    model = unwrap(like)
    kwargs = _source_kwargs(revision, gguf_file, trust_remote_code)
    kwargs.update(dtype=model.dtype, attn_implementation=model.config._attn_implementation)
    device_map = base_device_map(like)
    if device_map:
        kwargs["device_map"] = device_map
    base = friendly_load(
        lambda: AutoModelForCausalLM.from_pretrained(name, **kwargs), name, "base model"
    )
    if not device_map:
        base.to(model.device)
    return base.eval()


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


def load_tokenizer(
    name: str,
    *,
    what: str,
    revision: str | None = None,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
) -> Any:
    kwargs = _source_kwargs(revision, gguf_file, trust_remote_code)
    return friendly_load(lambda: AutoTokenizer.from_pretrained(name, **kwargs), name, what)


def validate_pair(finetuned: str, base: str, *, revision: str | None = None,
                  gguf_file: str | None = None, base_revision: str | None = None,
                  base_gguf_file: str | None = None, trust_remote_code: bool = False,
                  tokenizer: Any = None) -> tuple[Any, Any]:
    """Compare configs and tokenizers of two model names before any weights load.

    Returns (fine-tuned tokenizer, base tokenizer); `tokenizer` is used as the fine-tuned one if given.
    """
    names = dict(trust_remote_code=trust_remote_code)
    check_configs(
        load_config(finetuned, what="fine-tuned model", revision=revision, gguf_file=gguf_file, **names),
        load_config(base, what="base model", revision=base_revision, gguf_file=base_gguf_file, **names))
    base_tokenizer = load_tokenizer(base, what="base tokenizer", revision=base_revision,
                                    gguf_file=base_gguf_file, **names)
    if tokenizer is None:
        tokenizer = load_tokenizer(finetuned, what="fine-tuned tokenizer", revision=revision,
                                   gguf_file=gguf_file, **names)
    check_tokenizers(tokenizer, base_tokenizer)
    return tokenizer, base_tokenizer


def load_pair(
    finetuned: str,
    base: str,
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

    Configs and tokenizers are compared before any weights load.
    """
    trust = trust_remote_code
    if is_adapter_folder(finetuned):
        if adapter_base_check:
            check_adapter_base(finetuned, base)
        base_tokenizer = load_tokenizer(base, what="base tokenizer", revision=base_revision,
                                        gguf_file=base_gguf_file, trust_remote_code=trust)
        has_tokenizer = (Path(finetuned) / "tokenizer_config.json").is_file()
        tokenizer = (
            load_tokenizer(finetuned, what="adapter tokenizer") if has_tokenizer else base_tokenizer
        )
        model = _load_weights(base, base_revision, base_gguf_file, dtype, trust, "base model").to(
            device
        )
        from peft import PeftModel

        with warnings.catch_warnings():  # peft probes a transformers attribute deprecated in v5
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
            model = friendly_load(
                lambda: PeftModel.from_pretrained(model, finetuned), finetuned, "adapter"
            ).eval()
        base_model = None
    else:
        tokenizer, base_tokenizer = validate_pair(
            finetuned, base, revision=revision, gguf_file=gguf_file, base_revision=base_revision,
            base_gguf_file=base_gguf_file, trust_remote_code=trust)
        model = _load_weights(finetuned, revision, gguf_file, dtype, trust, "fine-tuned model").to(
            device
        )
        base_model = load_base_model(
            base,
            like=model,
            revision=base_revision,
            gguf_file=base_gguf_file,
            trust_remote_code=trust,
        )
    for note in pair_warnings(model, base_model, tokenizer, base_tokenizer):
        warn(note)
    sources = {"revision": revision, "base_revision": base_revision, "gguf_file": gguf_file,
               "base_gguf_file": base_gguf_file}
    return Pair(
        model=model,
        tokenizer=tokenizer,
        base=base_model,
        sources={k: v for k, v in sources.items() if v},
        joint=join(model, base_model, alpha),
    )


def _load_weights(
    name: str, revision: str | None, gguf_file: str | None, dtype: str, trust: bool, what: str
) -> PreTrainedModel:
    kwargs = {**_source_kwargs(revision, gguf_file, trust), "dtype": _torch_dtype(dtype)}
    return friendly_load(
        lambda: AutoModelForCausalLM.from_pretrained(name, **kwargs), name, what
    ).eval()


def _torch_dtype(dtype: str | torch.dtype) -> str | torch.dtype:
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise TucoError(f"unknown dtype {dtype!r}: use float32, bfloat16, float16 or auto")
    return value


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
