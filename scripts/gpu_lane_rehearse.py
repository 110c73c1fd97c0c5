"""Rehearse, on the CPU, the GPU lane's one call as the lent GPU machine would run it.

Builds a Python 3.12 venv holding only what that machine's image holds, at its versions
(constraints/gpu-machine.txt: torch 2.11, transformers 5.17, huggingface_hub 1.33, ...), fetches
the carried wheels (scripts/gpu_lane_wheels.py) unless the folder has them, then runs the
documented command with `--quick`: `python scripts/gpu_lane.py --wheels .whl --quick`. A package
missing from the image or the wheels, or an API that moved, fails here and not there.

    .venv/bin/python scripts/gpu_lane_rehearse.py    # first time ~3 GB (torch's CUDA build) and ~10 min

The venv is kept (`--venv`, default /tmp/tuco-gpu-rehearse) and reused on the next run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MACHINE = REPO / "constraints" / "gpu-machine.txt"
# Of the image's packages (device notes, read 2026-11-17), those tuco-eval, its tests and lm-eval
# need; everything else the lane needs must come from the carried wheels.
IMAGE_HAS = [
    "torch", "transformers", "huggingface_hub", "tokenizers", "safetensors", "accelerate", "peft",
    "numpy", "scipy", "scikit-learn", "matplotlib", "jinja2", "tqdm", "pytest", "hypothesis",
    "pandas", "pyarrow", "xxhash", "fsspec", "aiohttp", "requests", "pyyaml", "regex", "sacrebleu",
    "filelock", "packaging", "typer", "click", "hf-xet", "httpx", "typing-extensions", "statsmodels",
]


def run(command: list[str]) -> int:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=REPO).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="python3.12", help="the Python 3.12 to build the venv with")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/tuco-gpu-rehearse"))
    parser.add_argument("--wheels", type=Path, default=REPO / ".whl", help="the carried wheels (default .whl)")
    args = parser.parse_args()
    python = args.venv / "bin" / "python"
    if not python.exists():
        if shutil.which(args.python) is None and not Path(args.python).exists():
            print(f"gpu_lane_rehearse: no {args.python}; pass --python /path/to/python3.12", file=sys.stderr)
            return 2
        if run([args.python, "-m", "venv", str(args.venv)]) != 0:
            return 1
    if run([str(python), "-m", "pip", "install", "-q", "-c", str(MACHINE), *IMAGE_HAS]) != 0:
        return 1
    if not list(args.wheels.glob("*.whl")):
        if run([sys.executable, "scripts/gpu_lane_wheels.py", "--into", str(args.wheels)]) != 0:
            return 1
    # the documented one-call command, as that machine runs it (the wheels into a target folder)
    return run([str(python), "scripts/gpu_lane.py", "--wheels", str(args.wheels), "--quick"])


if __name__ == "__main__":
    sys.exit(main())
