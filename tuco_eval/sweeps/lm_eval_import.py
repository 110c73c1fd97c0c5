"""An α sweep run as plain lm_eval jobs (`lm_eval --model tuco_scaled --model_args ...,alpha=X
--log_samples --output_path out/alpha-X`, one job per α) turned into a RUN_DIR: the records
`tuco-eval sweep` would store for the same samples (tuco_eval.store.sample_records), at each
run's recorded α, with a run.json of the same tasks, filters, task configs, groups and prompt
settings. `cv` and `report` then read it as any sweep's, so Δ_CV, the chosen α, CI and p are the
sweep's doc for doc.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tuco_eval.analysis.checkpoint_rows import Entry
from tuco_eval.analysis.lm_eval_rows import LmEvalRows
from tuco_eval.analysis.prompt_checks import lm_eval_settings, settings_difference
from tuco_eval.analysis.run_cv import CV_FILE
from tuco_eval.store.doc_texts import DOCS, write_docs
from tuco_eval.store.lm_eval_output import LmEvalRun, find_runs, is_lm_eval_output, read_samples
from tuco_eval.store.run_json import RUN_INFO, RunInfo, read_run_info, update_run_info
from tuco_eval.store.sample_records import doc_records, doc_text
from tuco_eval.store.units import SAMPLES, write_unit
from tuco_eval.util.checkpoint_labels import folder_name
from tuco_eval.util.errors import TucoError
from tuco_eval.util.lm_eval_labels import lm_eval_run_name, model_args_value
from tuco_eval.util.params import format_alpha

NOT_PAIR_ARGS = ("alpha", "log_tuco", "log_kl")  # model_args that change the α or what is logged, not the pair


def pair_args(model_args: str) -> str:
    """model_args without α and the log switches: the (fine-tuned, base) pair and its loading."""
    parts = [p.strip() for p in model_args.split(",") if p.strip()]
    return ",".join(p for p in parts if p.partition("=")[0].strip() not in NOT_PAIR_ARGS)


def alpha_of(run: LmEvalRun) -> float:
    value = model_args_value(run.model_args, "alpha")
    try:
        return float(value) if value is not None else 1.0  # tuco_scaled's default α
    except ValueError:
        raise TucoError(f"{run.results_path}: model_args alpha={value} is not a number") from None


def check_alpha_runs(runs: Sequence[LmEvalRun]) -> None:
    """One pair, one run per α, the same tasks and prompt settings; else one line naming both runs."""
    first = runs[0]
    for run in runs:
        if run.model != "tuco_scaled":
            raise TucoError(
                f"{run.results_path} is a run of --model {run.model or '?'}; an α sweep needs "
                "`lm_eval --model tuco_scaled --model_args ...,alpha=X` runs"
            )
        if pair_args(run.model_args) != pair_args(first.model_args):
            raise TucoError(
                f"{first.results_path} and {run.results_path} are runs of different pairs "
                f"({pair_args(first.model_args)!r} vs {pair_args(run.model_args)!r}); give the α runs of one pair"
            )
        if sorted(run.tasks()) != sorted(first.tasks()):
            raise TucoError(
                f"{first.results_path} and {run.results_path} evaluated different tasks "
                f"({', '.join(first.tasks())} vs {', '.join(run.tasks())}); give runs of the same tasks"
            )
        for task in first.tasks():
            why = settings_difference(lm_eval_settings(first.results, task), lm_eval_settings(run.results, task))
            if why:
                raise TucoError(
                    f"task {task}: {first.results_path} and {run.results_path} differ in {why}; "
                    "run every α with the same settings"
                )
    alphas = [alpha_of(r) for r in runs]
    for i, alpha in enumerate(alphas):
        if alpha in alphas[:i]:
            twin = runs[alphas.index(alpha)]
            raise TucoError(
                f"{twin.results_path} and {runs[i].results_path} are both alpha={format_alpha(alpha)}; "
                "give one run per α (name the results_*.json to pick one)"
            )


def _weighted(rows: LmEvalRows, group: Mapping[str, Any]) -> bool:
    """Whether lm-eval weighted the group by size: its reported score is the size-weighted mean
    of its members' (lm-eval's default) rather than their plain mean."""
    reported = rows.reported_group(group)
    members = [rows.reported(rows.rows[t]) for t in group["tasks"]]
    if reported is None or None in members:
        return False
    plain = sum(m.score for m in members) / len(members)
    weighted = sum(m.score * m.n for m in members) / sum(m.n for m in members)
    return abs(reported.score - weighted) <= abs(reported.score - plain)


def run_info(runs: Sequence[LmEvalRun], label: str | None = None) -> RunInfo:
    """The run.json of the sweep: what `tuco-eval sweep` records of the same pair and tasks."""
    first = LmEvalRows(runs[0])
    info = first.info()
    results = runs[0].results
    aggregation: dict[str, list[dict]] = {}
    for group in first.group_rows.values():
        aggregation.setdefault(group["group"], []).append(
            {"metric": group["metric"], "filter_list": [group["filter"]], "weight_by_size": _weighted(first, group)}
        )
    name = lm_eval_run_name(runs[0].model_args, runs[0].folder.name)
    fields = {  # the lm-eval folder's fields, these laid over them where it has them
        **info.to_json(),
        "model_args": pair_args(runs[0].model_args),
        "label": label or name.label,
        "alphas": sorted(alpha_of(r) for r in runs),
        "group_aggregation": aggregation,
        "lm_eval_version": results.get("lm_eval_version"),
        "lm_eval_runs": {format_alpha(alpha_of(r)): str(r.results_path) for r in runs},
        "metadata": {
            "num_fewshot": None,  # each task's own count, as recorded in its config below
            "limit": (results.get("config") or {}).get("limit"),
            "apply_chat_template": results.get("chat_template") or False,
            "chat_template_sha": results.get("chat_template_sha"),
            "fewshot_as_multiturn": bool(results.get("fewshot_as_multiturn")),
            "system_instruction": results.get("system_instruction"),
            "log_tuco": any(str(model_args_value(r.model_args, "log_tuco")).lower() == "true" for r in runs),
        },
        "task_configs": {
            task: {**config, "num_fewshot": (results.get("n-shot") or {}).get(task, config.get("num_fewshot"))}
            for task, config in info.task_configs.items()
        },
    }
    return RunInfo.of(**fields)


def _clear_earlier_gathering(run_dir: Path) -> None:
    """A RUN_DIR gathered before is gathered anew (an α run removed since must not linger); a
    sweep's own RUN_DIR is never touched."""
    if not (run_dir / RUN_INFO).exists():
        return
    if not read_run_info(run_dir).has("lm_eval_runs"):
        raise TucoError(f"{run_dir} holds a `tuco-eval sweep`; gather the lm-eval runs in another --output")
    for name in (SAMPLES, DOCS, RUN_INFO, CV_FILE):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def import_alpha_runs(runs: Sequence[LmEvalRun], run_dir: Path, label: str | None = None) -> RunInfo:
    """Write the α runs of one pair into RUN_DIR as `tuco-eval sweep` would have; returns run.json."""
    check_alpha_runs(runs)
    _clear_earlier_gathering(run_dir)
    for run in runs:
        for task in run.tasks():  # one task's samples in memory at a time
            samples = read_samples(run, task)
            write_unit(run_dir, alpha_of(run), task, doc_records(samples))
            if alpha_of(run) == 1.0 or run is runs[0]:
                firsts = {s["doc_id"]: s for s in reversed(samples)}  # the first filter's sample
                write_docs(run_dir, task, [doc_text(firsts[d]) for d in sorted(firsts)])
    return update_run_info(run_dir, run_info(runs, label))


def gather_alpha_sweeps(entries: Sequence[Entry], where: Path) -> list[Entry]:
    """The report's rows with every pair's `tuco_scaled` runs at two or more α gathered into one
    swept row (a RUN_DIR under `where`, named after the row's label); other rows as they are."""
    by_pair: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.lm_eval is not None and entry.lm_eval.model == "tuco_scaled":
            by_pair.setdefault(pair_args(entry.lm_eval.model_args), []).append(entry)
    swept = {key: group for key, group in by_pair.items() if len(group) > 1}
    out: list[Entry] = []
    for entry in entries:
        group = swept.get(pair_args(entry.lm_eval.model_args)) if entry.lm_eval else None
        if group is None:
            out.append(entry)
        elif entry is group[0]:
            run_dir = where / folder_name(entry.label)  # the first run's label names the row
            import_alpha_runs([e.lm_eval for e in group], run_dir, entry.label)
            out.append(replace(entry, run_dir=run_dir, lm_eval=None))
    return out


def gather_for_cv(paths: Sequence[Path], output: Path | None, say: Any = print) -> Path:
    """`cv`'s RUN_DIR: the one RUN_DIR given, or `output` with the lm-eval α runs of `paths`
    gathered in it; a mix, or lm-eval runs without `output`, refused in one line."""
    lm_eval = [p for p in paths if is_lm_eval_output(p)]
    if not lm_eval:
        if len(paths) > 1 or output is not None:
            raise TucoError("give one RUN_DIR (a sweep's output), or lm-eval output folders with --output DIR")
        return paths[0]
    if len(lm_eval) < len(paths):
        other = next(p for p in paths if p not in lm_eval)
        raise TucoError(f"{other} is not an lm-eval output folder (no results_*.json); give only lm-eval α runs")
    if output is None:
        raise TucoError("give --output DIR: the RUN_DIR to gather the lm-eval α runs in")
    runs = [run for path in paths for run in find_runs(path, say)]
    info = import_alpha_runs(runs, output)
    alphas = ", ".join(format_alpha(a) for a in info.alphas)
    say(f"{len(runs)} lm-eval runs of {info.model_args} (alpha {alphas}) gathered in {output}")
    return output
