"""What `tuco-eval demo` costs now against an older tree of the project, side by side, same findings.

Exports OLD (a git ref, by default the last commit before the demo reused its work) into a
temporary folder, runs `tuco-eval demo` (`--quick`: the quick demo) from it and from this tree one
after the other in the same environment, and reports each run's CPU time (user + system, the
figure least moved by other jobs on a shared machine) and wall time. Then checks that both pages
say the same: summary.md apart from its run time, the persona CV (cv.json of both objectives)
and the training run's leaderboard.json (rows and paired tests). Not in `make bench`: even the
quick pair of demos takes minutes. Last line: `ratio: <CPU time now / CPU time of OLD>`.

    .venv/bin/python scripts/demo_cost.py [--quick] [--old REF]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OLD = "5310268"  # the demo before it reused part 1's sweep and the lower blocks' outputs
RUN_TIME = re.compile(r"Whole run: [\d.]+ min\.")


def export(ref: str, into: Path) -> Path:
    """The tree of `ref`, as files (no .git), under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_demo(tree: Path, out: Path, quick: bool) -> dict[str, float]:
    """CPU seconds (user + system of the demo process and its children) and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TQDM_DISABLE": "1"}
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tuco_eval", "demo", "--output", str(out), *(["--quick"] * quick)],
                          cwd=tree, env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"the demo of {tree} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall}


def findings(out: Path, tree: Path) -> dict[str, object]:
    """What the page shows, with the run's own time and the two folders (of the code, of the
    output) taken out."""
    board = json.loads((out / "training-run" / "report" / "leaderboard.json").read_text())
    found = {
        "summary": RUN_TIME.sub("Whole run: - min.", (out / "summary.md").read_text()),
        "cv max": json.loads((out / "run-persona" / "cv.json").read_text())["tasks"],
        "cv min": json.loads((out / "run-persona-min" / "cv.json").read_text())["tasks"],
        "training run": {"rows": board["rows"], "pairs": board["pairs"]},
    }
    text = json.dumps(found, sort_keys=True).replace(str(out), "<output>").replace(str(tree), "<tree>")
    return json.loads(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the quick demos (CI size) instead of the full ones")
    parser.add_argument("--old", default=OLD, help=f"the git ref to compare with (default {OLD})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuco-demo-cost-") as tmp:
        (Path(tmp) / "old").mkdir()
        old_tree = export(args.old, Path(tmp) / "old")
        print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        costs = {}
        for name, tree in (("old", old_tree), ("new", REPO)):
            costs[name] = run_demo(tree, Path(tmp) / f"out-{name}", args.quick)
            print(f"{name} ({args.old if name == 'old' else 'this tree'}): {costs[name]['cpu_s'] / 60:.1f} "
                  f"CPU-minutes, {costs[name]['wall_s'] / 60:.1f} min wall", flush=True)
        old, new = findings(Path(tmp) / "out-old", old_tree), findings(Path(tmp) / "out-new", REPO)
        differ = [key for key in old if old[key] != new[key]]
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        print("findings: the same" if not differ else f"findings DIFFER: {', '.join(differ)}")
    print(f"ratio: {costs['new']['cpu_s'] / costs['old']['cpu_s']:.3f}")
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
