"""Where a decoder keeps its residual blocks: a small table of known paths plus a generic search."""

from __future__ import annotations

import inspect

from torch import nn

from tuco_eval.util.errors import TucoError

# Attribute paths of the decoder-block list, tried in order (first match wins).
KNOWN_BLOCK_PATHS = (
    "model.layers",  # Llama, Mistral, Qwen2/3, Gemma 1-3, Phi3, OLMo2, ...
    "model.language_model.layers",  # multimodal wrappers (Gemma3, Llava-style)
    "transformer.h",  # GPT-2, GPT-J, Falcon, BLOOM
    "gpt_neox.layers",  # GPT-NeoX, Pythia
    "model.decoder.layers",  # OPT
    "transformer.blocks",  # MPT
    "transformer.layers",
)


def unwrap(model: nn.Module) -> nn.Module:
    """The underlying transformers model of a PEFT wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def takes_logits_to_keep(model: nn.Module) -> bool:
    """Whether the model's forward can skip the vocabulary projection where no logit is needed."""
    return "logits_to_keep" in inspect.signature(type(unwrap(model)).forward).parameters


def _lookup(model: nn.Module, path: str) -> nn.Module | None:
    obj = model
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _expected_count(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The list of residual decoder blocks of a causal LM, for any architecture.

    Known paths first; otherwise the longest `ModuleList` of same-class modules whose length
    equals the config's layer count. Raises TucoError naming the class when none is found.
    """
    model = unwrap(model)
    expected = _expected_count(model)
    for path in KNOWN_BLOCK_PATHS:
        blocks = _lookup(model, path)
        if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
            if expected is None or len(blocks) == expected:
                return blocks
    candidates = [
        m
        for m in model.modules()
        if isinstance(m, nn.ModuleList)
        and len(m) > 0
        and len({type(b) for b in m}) == 1
        and (expected is None or len(m) == expected)
    ]
    if not candidates:
        raise TucoError(
            f"cannot find the decoder blocks of {type(model).__name__}: no nn.ModuleList of "
            f"{expected} identical blocks; add its attribute path to tuco_eval.core.layers.KNOWN_BLOCK_PATHS"
        )
    return max(candidates, key=len)
