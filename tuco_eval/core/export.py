"""A pair at α in weight space, written as one ordinary model folder any server loads.

The weights mode's model is itself a model: θ_PT + α(θ_FT − θ_PT) for two full models, the
base with its LoRA adapter merged at α times its scale for a PEFT adapter (the same sum,
core.weight_mix). The mix is the one `tuco_scaled` runs in `mode=weights` (same loader, same
dtype, same arithmetic), then saved with transformers' `save_pretrained` in the input's dtype and,
for a sharded local input, its largest shard size. The activation and logits modes mix
activations or distributions at run time: no single set of weights computes them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tuco_eval.core.layers import unwrap
from tuco_eval.core.pair import Pair, is_peft_model, load_pair
from tuco_eval.core.sources import ModelSource
from tuco_eval.core.weight_mix import weight_mix_for
from tuco_eval.util.params import parse_alpha

INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class Exported:
    """What `export_at_alpha` wrote."""

    folder: Path
    alpha: float
    kind: str  # "model" (two full models mixed) or "merged adapter" (LoRA merged at α)
    dtype: str
    files: tuple[str, ...]


def export_at_alpha(
    finetuned: str | ModelSource,
    base: str | ModelSource,
    out_dir: str | Path,
    alpha: float,
    *,
    dtype: str = "auto",
    device: str = "cpu",
    adapter_base_check: bool = True,
    card: Callable[[str, str], str] | None = None,
) -> Exported:
    """Load the pair as `tuco_scaled` does, hold the weights mode's mix at `alpha`, and save that
    one model (weights, config, generation config, tokenizer, and `card(kind, dtype)` as
    README.md) into `out_dir`, which appears whole or not at all (written beside it, then renamed)."""
    alpha = parse_alpha(alpha)
    pair = load_pair(finetuned, base, dtype=dtype, device=device, adapter_base_check=adapter_base_check)
    mix = weight_mix_for(pair.model, pair.base)
    with torch.no_grad():
        mix.set(alpha)
    model, kind = _servable(pair)
    out_dir = Path(out_dir)
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by an export that was killed
    shard = _largest_shard(finetuned if pair.base is not None else base)
    model.save_pretrained(partial, **({"max_shard_size": shard} if shard else {}))
    pair.tokenizer.save_pretrained(partial)
    dtype_name = str(next(model.parameters()).dtype).removeprefix("torch.")
    if card is not None:
        (partial / "README.md").write_text(card(kind, dtype_name), encoding="utf-8")
    files = tuple(sorted(p.name for p in partial.iterdir() if p.is_file()))
    os.replace(partial, out_dir)  # onto a new or empty folder: readers see all of it or nothing
    return Exported(out_dir, alpha, kind, dtype_name, files)


def _servable(pair: Pair) -> tuple[torch.nn.Module, str]:
    """The model to save: the mixed fine-tuned model, or the PEFT model merged and unwrapped."""
    if not is_peft_model(pair.model):
        return unwrap(pair.model), "model"
    merged = pair.model.merge_and_unload()  # W + α·s·BA into W: the adapter's α-scaled sum, once
    merged.config.name_or_path = merged.name_or_path = ""
    return merged, "merged adapter"


def _largest_shard(source: str | ModelSource) -> int | None:
    """The size in bytes of the largest weight shard of a sharded local model, else None."""
    folder = Path(source.name if isinstance(source, ModelSource) else source)
    for index in INDEX_FILES:
        path = folder / index
        if path.is_file():
            shards = set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values())
            return max((folder / s).stat().st_size for s in shards if (folder / s).is_file())
    return None
