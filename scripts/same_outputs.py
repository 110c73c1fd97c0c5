"""Every file the demo, a 4-checkpoint lm-eval report and an lm-eval α sweep's CV write, compared
byte for byte between this tree and an older one: a change meant to alter no output shows it did not.

Exports OLD (a git ref) into a temporary folder and runs, from each tree in turn with the same
inputs and the same output paths:
  1. `tuco-eval report` over five lm-eval `--log_samples` folders (a base and checkpoints
     step-100 … step-400 of a group of three tasks, one of them with two filters), written here
     from seeded per-doc scores;
  2. `tuco-eval cv --output` over three α runs of one pair as lm-eval folders (run.json, cv.json);
  3. `tuco-eval cv` and `tuco-eval report` of a RUN_DIR swept in three scaling modes (two tasks of
     a group, seeded per-doc scores), written afresh beside each tree's outputs (cv writes into it);
  4. `tuco-eval demo --quick` (skipped with --skip-demo; --full-demo runs the whole demo).
Every file under each output is compared (lock files aside), with what differs between two runs of
the same code set aside: each tree's own path (`<tree>`), the date in lm-eval's results and samples
file names and the clock fields inside results files, the demo's run time ("Whole run: N min.")
and the random ids older trees' matplotlib figures gave an SVG's clip paths, markers and images.
Prints each differing file with its first differing line; last line `same: <n> files` (exit 0) or
`differ: <n> of <m> files` (exit 1).

    .venv/bin/python scripts/same_outputs.py --old REF [--skip-demo | --full-demo]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATE_ID = "2026-12-04T12-00-00.000000"
SET_ASIDE = [(re.compile(r"Whole run: [\d.]+ min\."), "Whole run: - min."),
             (re.compile(r"(?<=[#\"])(?:[mp]|image)[0-9a-f]{10}(?=[)\"])"), "<matplotlib's random id>")]
LM_EVAL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d+")  # in lm-eval's file names
SVG_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")  # a page's figures
LM_EVAL_CLOCK = ("date", "start_time", "end_time", "total_evaluation_time_seconds")
TASKS = {"reading_a": 240, "reading_b": 180, "reading_c": 300}
FILTERS = {"reading_c": ["strict", "flexible"]}


def export(ref: str, into: Path) -> Path:
    """The tree of `ref`, as files (no .git), under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def write_lm_eval_run(output_path: Path, model_args: str, accuracy: float, seed: int) -> Path:
    """An `lm_eval --log_samples --output_path` folder of the `reading` group: each doc right
    with probability `accuracy` (seeded), exact_match per filter, sample lines in lm-eval's shape."""
    rng = np.random.default_rng(seed)
    model = model_args.partition("pretrained=")[2].split(",")[0]
    folder = output_path / re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model)
    folder.mkdir(parents=True)
    results, configs = {}, {}
    for task, n in TASKS.items():
        filters = FILTERS.get(task, ["none"])
        right = {f: rng.random(n) < accuracy for f in filters}
        lines = []
        for f in filters:
            for doc_id in range(n):
                doc = {"question": f"{task} question {doc_id}?", "answer": f"a{doc_id}", "passage": doc_id // 4}
                lines.append(json.dumps({
                    "doc_id": doc_id, "doc": doc, "target": doc["answer"],
                    "arguments": {"gen_args_0": {"arg_0": f"{doc['question']}\nAnswer:", "arg_1": {"until": ["\n"]}}},
                    "resps": [[f" a{doc_id if right[f][doc_id] else -1}"]], "filtered_resps": [f" a{doc_id}"],
                    "filter": f, "metrics": ["exact_match"], "doc_hash": f"d{task}{doc_id}",
                    "prompt_hash": f"p{task}{doc_id}", "target_hash": f"t{doc_id}",
                    "exact_match": float(right[f][doc_id]),
                }))
        (folder / f"samples_{task}_{DATE_ID}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        results[task] = {"alias": task}
        for f in filters:
            mean = float(right[f].mean())
            results[task] |= {f"exact_match,{f}": mean,
                              f"exact_match_stderr,{f}": float(np.sqrt(mean * (1 - mean) / (n - 1)))}
        configs[task] = {"task": task, "output_type": "generate_until", "num_fewshot": 0,
                         "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
                         "metadata": {"version": 1.0, **({"cluster_key": "passage"} if task == "reading_b" else {})}}
    record = {
        "results": results, "group_subtasks": {"reading": list(TASKS)}, "configs": configs,
        "versions": {t: 1.0 for t in TASKS}, "n-shot": {t: 0 for t in TASKS},
        "n-samples": {t: {"original": n, "effective": n} for t, n in TASKS.items()},
        "config": {"model": "tuco_scaled" if "alpha=" in model_args else "hf", "model_args": model_args},
        "lm_eval_version": "0.4.13",
    }
    (folder / f"results_{DATE_ID}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return output_path


def build_inputs(into: Path) -> dict[str, list[Path]]:
    """The lm-eval folders both trees read: a training run's, and an α sweep's of one pair."""
    series = [write_lm_eval_run(into / "series" / "base", "pretrained=org/base", 0.50, 0)]
    series += [write_lm_eval_run(into / "series" / f"step-{step}", f"pretrained=runs/sft/checkpoint-{step}",
                                 0.5 + step / 1000, step) for step in (100, 200, 300, 400)]
    alphas = [write_lm_eval_run(into / "alphas" / f"alpha={a}", f"pretrained=org/ft,base=org/base,alpha={a}",
                                0.6 + 0.1 * (a == 1.0), int(a * 100)) for a in (0.9, 1.0, 1.1)]
    return {"series": series, "alphas": alphas}


def write_mode_run(run_dir: Path) -> Path:
    """A RUN_DIR swept in the activation, logits and weights modes: tasks m1, m2 of group mg at
    α 0.9, 1, 1.1 (the same answers at α = 1 in every mode, α = 1.1 helping most in activation)."""
    from tuco_eval.store import run_json
    from tuco_eval.store import units as store

    alphas = (0.9, 1.0, 1.1)
    for m, (mode, gain) in enumerate((("activation", 0.5), ("logits", 0.0), ("weights", 0.2))):
        root = run_json.mode_root(run_dir, mode)
        for t, task in enumerate(("m1", "m2")):
            rng = np.random.default_rng(100 + t)
            at_one = (rng.random(60) < 0.5).astype(float)
            own = np.random.default_rng(200 + 10 * t + m)
            rows = [np.where(own.random(60) < 0.2, 0.0, at_one), at_one,
                    np.where((at_one == 0) & (own.random(60) < gain), 1.0, at_one)]
            for alpha, row in zip(alphas, rows, strict=True):
                store.write_unit(root, alpha, task, [{"doc_id": d, "doc_hash": f"{task}-{d}", "acc": float(v)}
                                                     for d, v in enumerate(row)])
        run_json.update_run_info(root, {"model_args": "pretrained=org/ft,base=org/base", "label": "ft",
                                        "alphas": list(alphas), "tasks": ["m1", "m2"], "groups": {"mg": ["m1", "m2"]}})
    return run_dir


def run_tree(tree: Path, inputs: dict[str, list[Path]], out: Path, demo: str | None) -> None:
    """Each scenario from `tree`, into `out` (the same path for both trees)."""
    modes = write_mode_run(out / "modes-run")
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TQDM_DISABLE": "1"}
    commands = [
        ["report", *map(str, inputs["series"]), "--labels", "base,step-100,step-200,step-300,step-400",
         "--output", str(out / "report")],
        ["cv", "--output", str(out / "alpha-cv"), *map(str, inputs["alphas"])],
        ["cv", str(modes), "--folds", "3"],
        ["report", str(modes), "--output", str(out / "modes-report")],
    ]
    if demo is not None:
        commands.append(["demo", "--output", str(out / "demo"), *(["--quick"] if demo == "quick" else [])])
    for command in commands:
        done = subprocess.run([sys.executable, "-m", "tuco_eval", *command], cwd=tree, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"`tuco-eval {command[0]}` from {tree} failed:\n{done.stderr[-3000:]}")


def differences(before: Path, after: Path, trees: tuple[Path, Path]) -> tuple[list[str], int]:
    """(a line per file that differs or exists on one side only, files compared). Each side's
    file names are read with lm-eval's write date set aside; the trees' own paths read `<tree>`."""
    sides = [{_name(p.relative_to(root)): p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"}
             for root in (before, after)]
    names = sorted(sides[0].keys() | sides[1].keys())
    found = []
    for name in names:
        old, new = sides[0].get(name), sides[1].get(name)
        if old is None or new is None:
            found.append(f"{name}: only {'after' if old is None else 'before'}")
            continue
        a, b = (_comparable(path, tree) for path, tree in ((old, trees[0]), (new, trees[1])))
        if a != b:
            found.append(f"{name}: {_first_difference(a, b)}")
    return found, len(names)


def _name(relative: Path) -> str:
    return LM_EVAL_DATE.sub("<date>", relative.as_posix())


def _comparable(path: Path, tree: Path) -> bytes:
    """The file's bytes with what differs between two runs of the same code set aside: the tree's
    path, the demo's run time, matplotlib's random ids, the clock lm-eval writes into a results file."""
    text = path.read_bytes().decode("utf-8", "surrogateescape").replace(str(tree), "<tree>")
    text = SVG_URI.sub(lambda m: base64.b64decode(m[1]).decode("utf-8", "surrogateescape"), text)  # ids inside
    for pattern, replacement in SET_ASIDE:
        text = pattern.sub(replacement, text)
    if LM_EVAL_DATE.search(path.name) and path.suffix == ".json":
        record = json.loads(text)
        text = json.dumps({k: v for k, v in record.items() if k not in LM_EVAL_CLOCK}, indent=2)
    return text.encode("utf-8", "surrogateescape")


def _first_difference(a: bytes, b: bytes) -> str:
    lines_a, lines_b = a.split(b"\n"), b.split(b"\n")
    for i, (x, y) in enumerate(zip(lines_a, lines_b, strict=False)):
        if x != y:
            at = next(j for j in range(len(x) + 1) if x[j:j + 1] != y[j:j + 1])  # where the line parts
            return f"line {i + 1}, byte {at + 1}: {x[max(at - 40, 0):at + 60]!r} -> {y[max(at - 40, 0):at + 60]!r}"
    return f"{len(lines_a)} lines -> {len(lines_b)} lines"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="the git ref to compare with")
    demo = parser.add_mutually_exclusive_group()
    demo.add_argument("--skip-demo", action="store_true", help="only the report and the CV (seconds)")
    demo.add_argument("--full-demo", action="store_true", help="the whole demo instead of --quick (minutes)")
    args = parser.parse_args()
    demo_size = None if args.skip_demo else ("full" if args.full_demo else "quick")
    with tempfile.TemporaryDirectory(prefix="tuco-same-outputs-", dir=REPO.parent) as tmp:
        tmp = Path(tmp)
        old_tree, inputs = export(args.old, tmp / "old-tree"), build_inputs(tmp / "inputs")
        for name, tree in (("before", old_tree), ("after", REPO)):
            run_tree(tree, inputs, tmp / "out", demo_size)
            shutil.move(tmp / "out", tmp / name)
            print(f"{name}: {sum(1 for p in (tmp / name).rglob('*') if p.is_file())} files", flush=True)
        found, compared = differences(tmp / "before", tmp / "after", (old_tree, REPO))
    for line in found:
        print(line)
    print(f"differ: {len(found)} of {compared} files" if found else f"same: {compared} files")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
