"""The α sweep: the pair loaded once, lm-eval run once per (α, task), per-doc records stored.

Each (α, task) unit is evaluated by `simple_evaluate` with α set in place on the same
`tuco_scaled` instance, and written atomically through `tuco_eval.store.units`; a finished unit is
skipped on the next run, an interrupted one is redone. Different α can run in different jobs
into one RUN_DIR (a lock per unit keeps two jobs off the same (α, task)). Each doc's TuCo is
stored at α = 1 by default. `sweep_alone` stores a plain model (the base alone) the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tuco_eval.store.alpha_runs import record_alpha_run
from tuco_eval.store.doc_texts import read_docs, write_docs
from tuco_eval.store.run_json import RUN_INFO, RunInfo, read_run_info, update_run_info
from tuco_eval.store.sample_records import doc_records, doc_text
from tuco_eval.store.task_rows import filter_names, group_aggregation
from tuco_eval.store.units import StoreError, read_unit, unit_is_complete, unit_lock, write_unit
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.errors import TucoError, warn
from tuco_eval.util.files import disk_errors
from tuco_eval.util.params import PAPER_ALPHAS, format_alpha, parse_alphas


def check_task_names(names: Sequence[str], task_manager: Any) -> None:
    """Unknown names fail with close matches; cheap (the index only, no task is built)."""
    known = set(task_manager.all_tasks)
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        said = "; ".join(
            f"{n!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for n, h in hints.items()
        )
        raise TucoError(
            f"unknown task {said}; add --include-path for tasks outside lm-eval and tuco-eval"
        )


def resolve_tasks(
    names: Sequence[str], task_manager: Any, aggregation: dict[str, list[dict]] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Leaf Task objects by name, and {group: [member names]} for every group named or nested.

    ``aggregation``, when given, receives each group's ``aggregate_metric_list`` (as JSON)."""
    check_task_names(names, task_manager)
    try:
        loaded = task_manager.load(list(names))
    except TucoError:
        raise
    except Exception as err:  # lm-eval builds every task eagerly; name what broke in one line
        text = (str(err).strip().splitlines() or [type(err).__name__])[0]
        hint = "a task has no documents" if "size 0" in text else f"{type(err).__name__}: {text}"
        raise TucoError(
            f"cannot build the tasks {', '.join(names)}: {hint}; check the task data and config"
        ) from None
    if not loaded["tasks"]:
        raise TucoError(f"the task list {list(names)} holds no tasks")
    group_map = {g: list(children) for g, children in loaded.get("group_map", {}).items()}
    if aggregation is not None:
        aggregation.update(
            {g: group_aggregation(grp) for g, grp in loaded.get("groups", {}).items()}
        )
    return dict(loaded["tasks"]), group_map


def _first_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_doc: dict[int, dict[str, Any]] = {}
    for sample in samples:
        by_doc.setdefault(int(sample["doc_id"]), sample)
    return [by_doc[d] for d in sorted(by_doc)]


def sweep(
    lm: Any,
    tasks: Sequence[str],
    run_dir: str | Path,
    *,
    settings: EvalSettings,
    alphas: Sequence[float] = PAPER_ALPHAS,
    model_args: str = "",
    label: str | None = None,
    progress: bool = True,
    tuco_at_alpha_one: bool = True,
    run_info: RunInfo | None = None,
    reuse: str | Path | None = None,
) -> RunInfo:
    """Evaluate every (α, task) not yet in RUN_DIR with `lm` (a `tuco_scaled` instance).

    Each doc's TuCo is stored at α = 1 (`tuco_at_alpha_one`; the joint pass then runs at α = 1
    too), and at every α when `lm.log_tuco` is set. `run_info` adds top-level run.json fields
    (e.g. `RunInfo.of(kind="base")`).
    `reuse` names another RUN_DIR of the same weights: its complete units are copied, not computed
    (refused unless it recorded the same task configs and settings). `settings` builds every
    unit's prompts as lm-eval would. Each α is also an lm-eval output folder (store.alpha_runs),
    with samples where `settings.log_samples`. Returns the merged run description. Nothing is
    recomputed for units already complete.
    """
    alphas = parse_alphas(alphas)
    if getattr(lm, "dbdict", None) is not None:
        raise TucoError(
            "the model is wrapped in lm-eval's request cache, which ignores α: pass the bare model"
        )
    run_dir = Path(run_dir)
    log_every_alpha = bool(getattr(lm, "log_tuco", False))
    leaf_tasks, info = _describe_run(
        lm, tasks, run_dir, alphas, settings, model_args, label, run_info or RunInfo(),
        tuco_at_alpha_one=bool(tuco_at_alpha_one or log_every_alpha),
    )
    units = [(a, name) for a in alphas for name in sorted(leaf_tasks)]
    if reuse is not None:
        copy_units(Path(reuse), run_dir, info, units)
    bar = tqdm(total=len(units), desc="α sweep", unit="unit", disable=not progress)
    original_alpha = lm.alpha
    try:
        with _without_per_call_environment_records():
            for alpha, name in units:
                bar.set_postfix_str(f"α={format_alpha(alpha)} {name}")
                if not unit_is_complete(run_dir, alpha, name):
                    with unit_lock(run_dir, alpha, name):
                        if not unit_is_complete(run_dir, alpha, name):  # another job's, meanwhile
                            lm.alpha = alpha
                            # TuCo at α = 1 by default: the score the leaderboard shows, and its TuCo
                            lm.log_tuco = log_every_alpha or (tuco_at_alpha_one and alpha == 1.0)
                            _evaluate_unit(
                                lm, run_dir, alpha, leaf_tasks[name], name, settings,
                                info.label or "model",
                            )
                bar.update(1)
    finally:
        lm.alpha, lm.log_tuco = original_alpha, log_every_alpha
        bar.close()
    return info


def sweep_alone(
    lm: Any,
    tasks: Sequence[str],
    run_dir: str | Path,
    *,
    settings: EvalSettings,
    model_args: str = "",
    label: str | None = None,
    run_info: RunInfo | None = None,
    progress: bool = True,
) -> RunInfo:
    """Evaluate a plain lm-eval model (lm-eval's `hf`, e.g. the base model alone) once per task,
    stored as α = 1.0, "the model itself". Resumable like `sweep`; a task whose unit another job
    is computing (its lock held) is left to that job, so concurrent jobs never compute it twice.

    Returns the merged run description."""
    run_dir = Path(run_dir)
    done = _done_alone(run_dir, tasks)
    if done is not None:  # a series' base, once per checkpoint job or watched checkpoint: no task built
        return done
    leaf_tasks, info = _describe_run(
        lm, tasks, run_dir, [1.0], settings, model_args, label, run_info or RunInfo()
    )
    names = sorted(leaf_tasks)
    bar = tqdm(total=len(names), desc=f"{label or 'model'} alone", unit="unit", disable=not progress)
    try:
        with _without_per_call_environment_records():
            for name in names:
                bar.set_postfix_str(name)
                with _unit_unless_busy(run_dir, 1.0, name) as mine:
                    if mine and not unit_is_complete(run_dir, 1.0, name):
                        _evaluate_unit(
                            lm, run_dir, 1.0, leaf_tasks[name], name, settings,
                            info.label or "model",
                        )
                bar.update(1)
    finally:
        bar.close()
    return info


SAME_SETTINGS = ("metadata", "task_configs", "filters")  # what a reused unit must have been computed under


def copy_units(source: Path, run_dir: Path, info: RunInfo, units: Sequence[tuple[float, str]]) -> int:
    """The complete units of `source` among `units`, with their docs, into RUN_DIR (a sweep of the
    same weights); `info` is RUN_DIR's description. Returns how many were copied."""
    recorded = read_run_info(source)
    tasks = {name for _, name in units}
    for key in SAME_SETTINGS:
        mine, theirs = getattr(info, key), getattr(recorded, key)
        if key != "metadata":
            mine, theirs = ({t: d.get(t) for t in tasks} for d in (mine, theirs))
        if mine != theirs:
            raise TucoError(
                f"cannot reuse the units of {source}: its recorded {key} differ from this sweep's; "
                f"drop the reuse or sweep with the same tasks and settings"
            )
    copied = 0
    with writing(run_dir, f"the units reused from {source}"):
        for alpha, name in units:
            if unit_is_complete(run_dir, alpha, name) or not unit_is_complete(source, alpha, name):
                continue
            docs = read_docs(source, name)
            if docs:
                write_docs(run_dir, name, [docs[d] for d in sorted(docs)])
            write_unit(run_dir, alpha, name, read_unit(source, alpha, name))
            copied += 1
    return copied


@contextmanager
def _unit_unless_busy(run_dir: Path, alpha: float, name: str) -> Iterator[bool]:
    """True while this process holds the unit's lock; False (nothing done) when another job does."""
    if unit_is_complete(run_dir, alpha, name):
        yield False
        return
    stack = ExitStack()
    try:
        stack.enter_context(unit_lock(run_dir, alpha, name))
    except StoreError as busy:
        warn(busy)
        yield False
        return
    with stack:
        yield True


def _describe_run(
    lm: Any,
    tasks: Sequence[str],
    run_dir: Path,
    alphas: Sequence[float],
    settings: EvalSettings,
    model_args: str,
    label: str | None,
    run_info: RunInfo,
    tuco_at_alpha_one: bool = False,
) -> tuple[dict[str, Any], RunInfo]:
    """The leaf tasks by name, and the run description merged into RUN_DIR/run.json."""
    import lm_eval

    from tuco_eval import __version__

    aggregation: dict[str, list[dict]] = {}
    leaf_tasks, groups = resolve_tasks(tasks, settings.task_manager, aggregation)
    description = RunInfo.of(
        model_args=model_args,
        **({"label": label} if label else {}),
        **run_info.to_json(),  # the caller's fields (kind, checkpoint) where run.json has had them
        lm_eval_version=lm_eval.__version__,
        tuco_eval_version=__version__,
        alphas=list(alphas),
        tasks=sorted(leaf_tasks),
        groups=groups,
        group_aggregation=aggregation,
        filters={name: filter_names(task) for name, task in leaf_tasks.items()},
        task_configs={name: _jsonable_config(task) for name, task in leaf_tasks.items()},
        metadata={
            **settings.evaluate_kwargs(),
            "chat_template_sha": _chat_template_sha(lm, settings.apply_chat_template),
            "log_tuco": bool(getattr(lm, "log_tuco", False)),
            "log_tuco_alpha_one": tuco_at_alpha_one,
            "log_kl": bool(getattr(lm, "log_kl", False)),
            "mode": getattr(lm, "mode", "activation"),
        },
    )
    with writing(run_dir, "run.json"):
        return leaf_tasks, update_run_info(run_dir, description)


@contextmanager
def _without_per_call_environment_records() -> Iterator[None]:
    """Every `simple_evaluate` records lm-eval's git hash and environment: a `git` call (printing
    "fatal: not a git repository" outside one) and ~0.3 s, per (α, task) unit. The sweep keeps
    neither (run.json records the versions), so skip both while it runs."""
    import lm_eval.evaluator as evaluator

    names = [n for n in ("get_git_commit_hash", "add_env_info") if hasattr(evaluator, n)]
    saved = {name: getattr(evaluator, name) for name in names}
    try:
        for name in names:
            setattr(evaluator, name, lambda *args: None)
        yield
    finally:
        for name, value in saved.items():
            setattr(evaluator, name, value)


def _done_alone(run_dir: Path, tasks: Sequence[str]) -> RunInfo | None:
    """RUN_DIR's run description when it records every task or group of `tasks` and every unit
    it records is complete (nothing to evaluate, so no lm-eval task needs building), else None."""
    if not (run_dir / RUN_INFO).is_file():
        return None
    info = read_run_info(run_dir)
    recorded = list(info.tasks)
    if not recorded or not set(tasks) <= {*recorded, *info.groups}:
        return None
    return info if all(unit_is_complete(run_dir, 1.0, name) for name in recorded) else None


def _evaluate_unit(
    lm: Any,
    run_dir: Path,
    alpha: float,
    task: Any,
    name: str,
    settings: EvalSettings,
    model_name: str = "model",
) -> None:
    """One (α, task) unit through lm-eval: its records into the store, its results (and with
    `settings.log_samples` its samples) into the α's lm-eval folder of `model_name`."""
    from lm_eval import simple_evaluate

    if not task.eval_docs:
        raise TucoError(f"task {name} has no documents to evaluate: check its data source")
    out = simple_evaluate(
        model=lm,
        tasks=[task],
        task_manager=settings.task_manager,
        log_samples=True,
        bootstrap_iters=0,
        **settings.evaluate_kwargs(),
    )
    samples = out["samples"][name]
    _closed_form_stderrs(out["results"][name], task, samples)
    with writing(run_dir, f"the results of α={format_alpha(alpha)} {name}"):
        write_docs(run_dir, name, [doc_text(s, task) for s in _first_samples(samples)])
        record_alpha_run(run_dir, alpha, model_name, [name], out, {name: samples} if settings.log_samples else None)
        write_unit(run_dir, alpha, name, doc_records(samples))  # last: a complete unit has all of it


def _closed_form_stderrs(results: dict[str, Any], task: Any, samples: list[dict[str, Any]]) -> None:
    """The standard error of every mean-aggregated metric, as lm_eval's own run reports it, where
    `bootstrap_iters=0` (no bootstrap for the others: one unit per (α, task) stays cheap) left
    "N/A"; lm-eval's `mean_stderr` over the docs of each filter."""
    from lm_eval.api.metrics import mean, mean_stderr

    for metric, aggregate in task.aggregation().items():
        if aggregate is not mean:
            continue
        for key in [k for k, v in results.items() if k.startswith(f"{metric}_stderr,") and v == "N/A"]:
            filter_name = key.partition(",")[2]
            values = [s[metric] for s in samples if s.get("filter") == filter_name and metric in s]
            if len(values) > 1:
                results[key] = mean_stderr(values)


def writing(run_dir: Path, what: str) -> AbstractContextManager:
    """Disk full or read-only: one line; every file written so far stays intact (atomic writes)."""
    return disk_errors(
        f"{what} into {run_dir}",
        "free space or choose another --output, then rerun to resume",
    )


def _chat_template_sha(lm: Any, apply: bool | str | None) -> str | None:
    """sha256 of the chat template the prompts are rendered with, as lm-eval's results record it."""
    import hashlib

    template = lm.chat_template(apply) if apply and hasattr(lm, "chat_template") else None
    return hashlib.sha256(template.encode("utf-8")).hexdigest() if isinstance(template, str) else None


def _jsonable_config(task: Any) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(task.dump_config(), default=str))
