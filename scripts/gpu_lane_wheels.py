"""Fetch, here, the wheels the GPU machine lacks for the GPU lane, into .whl/ (git-ignored).

The lent GPU machine (contributing/performance.md#gpu-lane) has Python 3.12 with torch, transformers,
peft, accelerate, scipy, scikit-learn and pytest, but not lm-eval and some of its requirements,
and it reaches no package index. This downloads those, at the versions this checkout's .venv
holds, for CPython 3.12 on x86-64 Linux; the few published only as source are built into wheels
here (they are pure Python). `scripts/gpu_lane.py --wheels .whl` installs them there.

    .venv/bin/python scripts/gpu_lane_wheels.py      # about 12 MB, a minute
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

# not in the GPU machine's image (its package list, as read 2026-11-17); tuco-eval runs from source
MISSING_THERE = [
    "lm_eval", "datasets", "evaluate", "dill", "multiprocess", "more-itertools", "sqlitedict",
    "word2number", "rouge_score", "nltk", "defusedxml", "pytablewriter", "DataProperty",
    "mbstrdecoder", "pathvalidate", "tabledata", "tcolorpy", "typepy", "chardet", "pytz", "gguf",
]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"]


def fetch(requirement: str, into: Path) -> None:
    """A wheel for CPython 3.12 on x86-64 Linux; built here from source where none is published."""
    binary = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
              "--python-version", "3.12", "--implementation", "cp", "-d", str(into), requirement]
    for platform in PLATFORMS:
        binary[binary.index("-d"):binary.index("-d")] = ["--platform", platform]
    if subprocess.run(binary, capture_output=True, text=True).returncode == 0:
        return
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into),
                            requirement], capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"gpu_lane_wheels: could not fetch {requirement}: {built.stderr.strip()[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--into", default=".whl", help="folder for the wheels (default .whl, git-ignored)")
    into = Path(parser.parse_args().into)
    into.mkdir(exist_ok=True)
    for name in MISSING_THERE:
        fetch(f"{name}=={importlib.metadata.version(name)}", into)
    wheels = sorted(into.glob("*.whl"))
    for stray in [w for w in wheels if not w.name.endswith("none-any.whl") and "cp312" not in w.name]:
        raise SystemExit(f"gpu_lane_wheels: {stray.name} is not for CPython 3.12")
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{len(wheels)} wheels, {size:.1f} MiB in {into}/; carry it: run(carry=['{into}'], ...)")


if __name__ == "__main__":
    main()
