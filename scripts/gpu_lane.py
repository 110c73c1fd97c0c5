"""The GPU lane in one call: the exactness tests on CUDA in float32 and bfloat16
(tests/test_gpu_lane.py, marker `gpu`), then bench/gpu_check.py; their figures replace the marked
section of contributing/performance.md (between GPU_LANE_BEGIN and GPU_LANE_END).

    python scripts/gpu_lane.py                     # a machine with CUDA: a few minutes
    python scripts/gpu_lane.py --wheels .whl       # the lent GPU machine: install the carried wheels first
    python scripts/gpu_lane.py --quick             # a dry run on the CPU: tiny sizes; prints, writes nothing

The section keeps whatever the run found, failures included, and the exit code is 1 when a test or
the benchmark failed (2: no CUDA device without --quick). --quick runs the same tests on the CPU
($TUCO_GPU_LANE_DEVICE=cpu) and gpu_check --quick, to check this script: its figures are not GPU
measurements, so it writes them nowhere unless --doc names a file, and labels them a CPU dry run.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "contributing" / "performance.md"
GPU_LANE_BEGIN = "<!-- gpu-lane:begin (scripts/gpu_lane.py rewrites this section) -->"
GPU_LANE_END = "<!-- gpu-lane:end -->"
LANE_TESTS = "tests/test_gpu_lane.py"
# every run offline, this checkout importable (the GPU machine runs it from source, not installed)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def rewrite_section(text: str, section: str) -> str:
    """`text` with the part between the markers (markers included) replaced by `section`
    wrapped in them; appended at the end when the markers are absent."""
    block = f"{GPU_LANE_BEGIN}\n{section.strip()}\n{GPU_LANE_END}"
    start, end = text.find(GPU_LANE_BEGIN), text.find(GPU_LANE_END)
    if start < 0 or end < start:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[:start] + block + text[end + len(GPU_LANE_END):]


def worst_ratios(record_lines: list[str]) -> list[tuple[str, str, float, float, float]]:
    """Per (check, dtype): the check with the largest error / tolerance, as
    (check, dtype, error, tolerance, ratio); checks of one kind share the text before a comma."""
    worst: dict[tuple[str, str], tuple[float, float, float]] = {}
    for line in record_lines:
        row = json.loads(line)
        key = (row["check"].split(",")[0], row["dtype"])
        ratio = row["error"] / row["tolerance"] if row["tolerance"] else float("inf")
        if key not in worst or ratio > worst[key][2]:
            worst[key] = (row["error"], row["tolerance"], ratio)
    return [(check, dtype, *values) for (check, dtype), values in sorted(worst.items())]


def junit_summary(path: Path) -> tuple[collections.Counter, float, list[str]]:
    """(outcome counts, seconds, 'test id: first line of the failure' per failed test) of a JUnit file."""
    counts: collections.Counter = collections.Counter()
    failures: list[str] = []
    suite = ElementTree.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    for case in suite.iter("testcase"):
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        kind = "passed" if outcome is None else {"failure": "failed"}.get(outcome.tag, outcome.tag)
        counts[kind] += 1
        if kind in ("failed", "error"):
            message = (outcome.get("message") or outcome.text or "").strip().splitlines()
            failures.append(f"{case.get('name')}: {message[0][:200] if message else '?'}")
    return counts, float(suite.get("time", 0.0)), failures


def versions() -> str:
    """One line: the device, and the versions that decide the numbers."""
    probe = (
        "import torch, transformers, peft, lm_eval; from importlib.metadata import version; "
        "gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'the CPU (no CUDA device)'; "
        "print(f'{gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}), transformers "
        "{transformers.__version__}, peft {peft.__version__}, lm-eval {version(\"lm_eval\")}')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV)
    found = done.stdout.strip() or f"versions unreadable: {done.stderr.strip().splitlines()[-1:]}"
    return f"{found}; Python {platform.python_version()}"


def commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (done.stdout.strip() + (" + local changes" if dirty else "")) if done.returncode == 0 else "unknown"


def run_lane(quick: bool, scratch: Path) -> tuple[str, bool]:
    """The lane's pytest run: (Markdown lines, all passed)."""
    record, junit = scratch / "record.jsonl", scratch / "junit.xml"
    env = {**ENV, "TUCO_GPU_LANE_RECORD": str(record)}
    if quick:
        env["TUCO_GPU_LANE_DEVICE"] = "cpu"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-rs", "-p", "no:cacheprovider",
               f"--junitxml={junit}", LANE_TESTS]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    sys.stdout.write(done.stdout[-3000:])
    if not junit.exists():
        return f"The lane did not run (pytest exit {done.returncode}): `{done.stderr.strip()[-300:]}`", False
    counts, seconds, failures = junit_summary(junit)
    lines = [f"Exactness (`{LANE_TESTS}`, float32 and bfloat16): "
             + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) + f" in {seconds:.0f} s."]
    lines += [f"- FAILED {failure}" for failure in failures]
    ratios = worst_ratios(record.read_text().splitlines() if record.exists() else [])
    if ratios:
        lines += ["", "Largest error of each check against its tolerance (tests/helpers/precision.py):", "",
                  "| check | dtype | error | tolerance | error / tolerance |", "|---|---|---|---|---|"]
        lines += [f"| {check} | {dtype} | {error:.3g} | {tolerance:.3g} | {ratio:.3f} |"
                  for check, dtype, error, tolerance, ratio in ratios]
    return "\n".join(lines), done.returncode == 0 and not failures


def run_bench(quick: bool) -> tuple[str, bool]:
    """bench/gpu_check.py's output (its table as it prints it): (Markdown, it succeeded)."""
    command = [sys.executable, "bench/gpu_check.py", *(["--quick"] if quick else [])]
    done = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        return f"`bench/gpu_check.py` failed (exit {done.returncode}): `{done.stderr.strip()[-300:]}`", False
    lines = done.stdout.strip().splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    if table:  # Markdown wants a blank line around a table
        lines = [*lines[: table[0]], "", *lines[table[0] : table[-1] + 1], "", *lines[table[-1] + 1 :]]
    return "`bench/gpu_check.py`: " + "\n".join(lines), True


def install_wheels(folder: Path, scratch: Path) -> None:
    """Install carried wheels (scripts/gpu_lane_wheels.py) into a folder the runs put first on their path."""
    target = scratch / "site"
    wheels = sorted(str(w) for w in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu_lane: no wheels in {folder}; fetch them with scripts/gpu_lane_wheels.py")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--target", str(target), *wheels], check=True)
    ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), ENV.get("PYTHONPATH")]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="dry run on the CPU, tiny sizes; writes nothing")
    parser.add_argument("--doc", type=Path, help=f"file whose marked section to rewrite (default {DOC.name}; "
                        "with --quick none unless given)")
    parser.add_argument("--wheels", type=Path, help="install these carried wheels first (the lent GPU machine)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.wheels:
            install_wheels(args.wheels, Path(scratch))
        machine = versions()
        if not args.quick and "no CUDA device" in machine:
            print("gpu_lane: no CUDA device here; --quick runs the lane on the CPU as a dry run", file=sys.stderr)
            return 2
        day = datetime.date.today().isoformat()
        title = (f"CPU DRY RUN (`--quick`, {day}): checks the script; no figure here is a GPU measurement"
                 if args.quick else f"Measured {day}")
        lane, lane_ok = run_lane(args.quick, Path(scratch))
        bench, bench_ok = run_bench(args.quick)
    section = "\n\n".join([
        "### GPU lane (`python scripts/gpu_lane.py`)",
        f"{title} on {machine}, commit {commit()}.",
        lane,
        bench,
    ])
    print("\n" + section)
    doc = args.doc or (None if args.quick else DOC)
    if doc is not None:
        doc.write_text(rewrite_section(doc.read_text() if doc.exists() else "", section))
        print(f"\ngpu_lane: wrote the section into {doc}")
    return 0 if lane_ok and bench_ok else 1


if __name__ == "__main__":
    sys.exit(main())
