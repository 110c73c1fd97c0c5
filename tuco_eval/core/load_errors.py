"""One line for a model, tokenizer or adapter that cannot be loaded, naming the fix.

Hub failures are recognised by huggingface_hub's typed exceptions (`huggingface_hub.errors`),
which transformers re-raises as an OSError `from` the typed one and peft raises as they are; a
local folder by what it lacks. Anything else keeps its own first line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tuco_eval.util.errors import TucoError

UNREACHABLE = "not in the local Hub cache, and the Hub is unreachable (HF_HUB_OFFLINE is set or no network)"
# the first type in the error's chain that matches names the problem (a gated repo is also "not found")
HINTS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (GatedRepoError, "the repository is gated: accept its licence on the Hub and run `hf auth login`"),
    (RepositoryNotFoundError, "not a local folder and not found on the Hub (check the spelling or the path)"),
    (RevisionNotFoundError, "no such revision on the Hub (a branch, tag or commit of the repository)"),
    ((LocalEntryNotFoundError, OfflineModeIsEnabled), UNREACHABLE),
    (EntryNotFoundError, "the repository has no such file (check gguf_file= and the revision)"),
)
WEIGHTS = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.pth")
NO_WEIGHTS = "the folder has no model weights (expected model.safetensors, pytorch_model.bin or a GGUF file)"


def friendly_load(load: Callable[[], Any], name: str, what: str) -> Any:
    """Run a transformers/peft loader; a failure becomes a TucoError naming `what`, `name` and the fix."""
    try:
        return load()
    except TucoError:
        raise
    except Exception as err:  # transformers raises OSError/ValueError with long texts
        raise TucoError(f"cannot load the {what} '{name}': {hint(err, name, what)}") from None


def hint(err: BaseException, name: str, what: str = "model") -> str:
    """What went wrong, in one line: by the typed Hub exception in `err`'s chain, else by what the
    local model folder `name` lacks, else `err`'s own first line."""
    for cause in _chain(err):
        for kind, text in HINTS:
            if isinstance(cause, kind):
                local = Path(name).exists()  # `org/name` could also be a mistyped local path
                return text if local or text != UNREACHABLE else f"no local folder of that name; {text}"
    folder = Path(name)
    model_folder = folder.is_dir() and not (folder / "adapter_config.json").is_file()
    if model_folder and "tokenizer" not in what:
        if not any(next(folder.glob(pattern), None) for pattern in WEIGHTS):
            return NO_WEIGHTS
        if not (folder / "config.json").is_file() and next(folder.glob("*.gguf"), None) is None:
            return "the folder has weights but no config.json (save the model with save_pretrained)"
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
