"""Where each side of a pair comes from, said once: a `ModelSource` (as nanoGPT's GPTConfig says
a model's shape once) is a Hub id or local folder, its revision, a GGUF file in it and whether
its code may run; its config, tokenizer and weights load from it alike, each failure one line
(`load_errors`). A PEFT adapter folder is a source too: it names the base it was trained on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from tuco_eval.core.load_errors import friendly_load
from tuco_eval.util.errors import TucoError


@dataclass(frozen=True)
class ModelSource:
    """One side of a pair: what transformers' `from_pretrained` reads it from."""

    name: str  # a Hub id or a local folder (for an adapter: the adapter's folder)
    revision: str | None = None  # a Hub branch, tag or commit
    gguf_file: str | None = None  # a GGUF file inside `name`
    trust_remote_code: bool = False

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        """The same for the config, the tokenizer and the weights."""
        kwargs: dict[str, Any] = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        return kwargs

    @property
    def is_adapter(self) -> bool:
        return is_adapter_folder(self.name)


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


def as_source(value: str | ModelSource) -> ModelSource:
    """A name alone is the source at its default revision."""
    return value if isinstance(value, ModelSource) else ModelSource(str(value))


def load_config(source: str | ModelSource, what: str) -> Any:
    source = as_source(source)
    kwargs = source.from_pretrained_kwargs()
    return friendly_load(lambda: AutoConfig.from_pretrained(source.name, **kwargs), source.name, what)


def load_tokenizer(source: str | ModelSource, what: str) -> Any:
    source = as_source(source)
    kwargs = source.from_pretrained_kwargs()
    return friendly_load(lambda: AutoTokenizer.from_pretrained(source.name, **kwargs), source.name, what)


def adapter_tokenizer(adapter: str | Path, base_tokenizer: Any) -> Any:
    """An adapter's own tokenizer where its folder holds one, else the base's."""
    if (Path(adapter) / "tokenizer_config.json").is_file():
        return load_tokenizer(ModelSource(str(adapter)), "adapter tokenizer")
    return base_tokenizer


def load_weights(source: ModelSource, what: str, dtype: str | torch.dtype = "float32", **extra: Any) -> PreTrainedModel:
    """The causal LM of `source` in eval mode; `extra` goes to `from_pretrained` as it is."""
    kwargs = {**source.from_pretrained_kwargs(), "dtype": torch_dtype(dtype), **extra}
    return friendly_load(lambda: AutoModelForCausalLM.from_pretrained(source.name, **kwargs), source.name, what).eval()


def torch_dtype(dtype: str | torch.dtype) -> str | torch.dtype:
    """`float32`, `bfloat16`, ... as a torch dtype ("auto" and dtypes as they are)."""
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise TucoError(f"unknown dtype {dtype!r}: use float32, bfloat16, float16 or auto")
    return value
