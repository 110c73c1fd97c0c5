"""leaderboard.json and pairs.csv: every row's (checkpoint's, base's) score at α = 1 with its
standard error, mean TuCo and cross-validated gain per task and group, and the paired tests
between every two rows on the same documents. The format is public: docs/formats.md, "leaderboard.json".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tuco_eval.analysis.checkpoint_rows import Entry
from tuco_eval.analysis.lm_eval_rows import LmEvalRows, Reported
from tuco_eval.analysis.prompt_checks import check_prompts
from tuco_eval.records.board_json import (
    BASE,
    BOARD_FORMAT,
    Board,
    BoardEntry,
    BoardRow,
    FamilyCount,
    PairTest,
)
from tuco_eval.records.cv_json import GroupRow, TaskRow
from tuco_eval.records.report import Run
from tuco_eval.stats.cv import LEVEL, SIGNIFICANCE_LEVEL, most_chosen
from tuco_eval.stats.group_figures import leaf_tasks
from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
from tuco_eval.stats.paired import (
    FAMILIES,
    PairTests,
    default_families,
    family_pairs,
    group_pairs,
    task_pairs,
)
from tuco_eval.stats.significance import correct_pairs
from tuco_eval.store.clusters import cluster_labels, task_cluster_key
from tuco_eval.store.doc_texts import read_doc_fields
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.units import StoreError, doc_scores, read_unit, unit_is_complete
from tuco_eval.util.errors import TucoError


@dataclass(frozen=True)
class TaskDocs:
    """One row's per-doc values of one task at α = 1, docs sorted by doc_id."""

    doc_ids: np.ndarray
    doc_hashes: tuple[str, ...]
    scores: np.ndarray
    tuco: np.ndarray | None  # None unless every doc has a finite TuCo
    prompt_hashes: tuple[str | None, ...] | None = None  # None: not stored (older RUN_DIRs)
    clusters: np.ndarray | None = None  # each doc's cluster where the task's docs are clustered


@dataclass(frozen=True)
class GroupSpec:
    """A group of the report: its member rows, metric, lm-eval's weighting, the row that first
    listed it (every other row must list the same members)."""

    tasks: list[str]
    metric: str | None
    weighted: bool
    run: str


@dataclass(frozen=True)
class RowSpec:
    """Where a result row's per-doc scores live: ``task``'s records, field ``key``."""

    task: str
    key: str
    metric: str


def read_alpha_one(run_dir: Path, task: str, key: str) -> TaskDocs:
    """The verified α = 1 records of ``task``: field ``key`` and TuCo of each doc."""
    return records_docs(read_unit(run_dir, 1.0, task), key, f"{run_dir}: task {task} alpha=1.0")


def records_docs(records: Sequence[Mapping], key: str, where: str) -> TaskDocs:
    """Field ``key``, TuCo and prompt hash of each doc of store records (a RUN_DIR's unit, or an
    lm-eval run's samples as tuco_eval.store.sample_records makes them)."""
    by_id = doc_scores(list(records), key, where)
    doc_ids = np.array(sorted(by_id), dtype=np.int64)
    by_doc = {r["doc_id"]: r for r in records}
    values = [by_doc[d].get("tuco") for d in doc_ids.tolist()]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    hashes = tuple(by_doc[d].get("prompt_hash") for d in doc_ids.tolist())
    return TaskDocs(
        doc_ids=doc_ids,
        doc_hashes=tuple(by_id[d][0] for d in doc_ids.tolist()),
        scores=np.array([by_id[d][1] for d in doc_ids.tolist()], dtype=np.float64),
        tuco=np.array(values, dtype=np.float64) if values and finite else None,
        prompt_hashes=hashes if hashes and all(hashes) else None,
    )


def mean_stderr(scores: np.ndarray, clusters: np.ndarray | None = None) -> float | None:
    """lm-eval's standard error of a mean-aggregated metric: sample std (ddof=1) / sqrt(n); with
    ``clusters``, the cluster-robust one: sqrt(C/(C − 1)·Σ_c (Σ_{i∈c} (x_i − x̄))²) / n."""
    n = len(scores)
    if clusters is None:
        return float(np.std(scores, ddof=1) / math.sqrt(n)) if n > 1 else None
    codes = np.unique(clusters, return_inverse=True)[1]
    width = int(codes.max()) + 1 if n else 0
    if width < 2:
        return None
    sums = np.bincount(codes, scores - scores.mean(), minlength=width)
    return float(math.sqrt(width / (width - 1) * np.sum(sums**2)) / n)


def _task_entry(
    docs: TaskDocs, metric: str, cv_row: TaskRow | None, reported: Reported | None = None,
    logged_tuco: bool = False,
) -> BoardEntry:
    # cv_row None: the base row or an lm-eval run (no α sweep; TuCo only where it was logged);
    # reported: lm-eval's own figures for the row, taken as they are
    has_tuco = docs.tuco is not None and (cv_row or logged_tuco)
    return BoardEntry(
        metric=metric,
        n=reported.n if reported else len(docs.scores),
        score=reported.score if reported else float(docs.scores.mean()),
        stderr=(reported.stderr if reported and docs.clusters is None
                else mean_stderr(docs.scores, docs.clusters)),
        tuco=float(docs.tuco.mean()) if has_tuco else None,
        score_cv=float(cv_row.acc_cv) if cv_row else None,
        delta_cv=float(cv_row.delta_cv) if cv_row else None,
        ci=[float(x) for x in cv_row.ci95] if cv_row else None,
        alpha_chosen=most_chosen(cv_row.alphas_chosen) if cv_row else None,
        alphas_by_fold=[float(a) for a in cv_row.alphas_chosen] if cv_row else None,
        **_inference(cv_row),
    )


def _inference(cv_row: TaskRow | GroupRow | None) -> dict:
    """Δ_CV's test of a task or group entry: raw and adjusted p, significance after the report's
    correction, the bootstrap's spread and the smallest E[Δ_CV] detectable (None: no α sweep)."""
    names = ("p", "p_adjusted", "significant", "se", "mde")
    if cv_row is None or cv_row.p_value is None:
        return dict.fromkeys(names)
    se = cv_row.se if isinstance(cv_row, TaskRow) else cv_row.inference.se
    c = cv_row.correction
    return {"p": cv_row.p_value, "p_adjusted": c.p_adjusted if c else None,
            "significant": cv_row.significant, "se": se, "mde": c.mde if c else None}


def group_score(members: Sequence[BoardEntry], weighted: bool) -> tuple[float, float | None]:
    """(score, stderr) of a group as lm-eval aggregates its members' (aggregate_subtask_metrics):
    weighted by size with pooled_sample_stderr, else the plain mean with unweighted_mean_stderr."""
    scores = np.array([m.score for m in members], dtype=np.float64)
    errors = [m.stderr for m in members]
    if not weighted:  # sqrt(Σ se²) / T
        stderr = None if None in errors else math.sqrt(sum(e * e for e in errors)) / len(errors)
        return float(scores.mean()), stderr
    sizes = np.array([m.n for m in members], dtype=np.float64)
    score = float(np.dot(scores, sizes) / sizes.sum())
    if None in errors or sizes.sum() <= len(sizes):
        return score, None
    variance = float(np.sum((sizes - 1) * np.square(errors) * sizes)) / (sizes.sum() - len(sizes))
    return score, math.sqrt(variance / sizes.sum())


def _group_entry(
    members: Sequence[BoardEntry], metric: str | None, cv_group: GroupRow | None, weighted: bool = False,
    reported: Reported | None = None,
) -> BoardEntry:
    tucos = [m.tuco for m in members]
    has_cv = cv_group is not None and all(m.ci for m in members) and cv_group.inference is not None
    score, stderr = group_score(members, weighted)
    return BoardEntry(
        metric=metric,
        n=reported.n if reported else sum(m.n for m in members),
        n_tasks=len(members),
        score=reported.score if reported else score,
        stderr=reported.stderr if reported else stderr,
        tuco=None if None in tucos else float(np.mean(tucos)),
        score_cv=float(cv_group.acc_cv) if has_cv else None,
        delta_cv=float(cv_group.delta_cv) if has_cv else None,
        ci=[float(x) for x in cv_group.ci95] if has_cv else None,
        alpha_chosen=most_chosen([m.alpha_chosen for m in members]) if has_cv else None,
        **_inference(cv_group if has_cv else None),
    )


def _specs(
    runs: Sequence[Run], sources: Mapping[str, LmEvalRows]
) -> tuple[dict[str, RowSpec], dict[str, GroupSpec]]:
    """Every result row (task, filter) and every group of the runs (sweeps' cv.json, then lm-eval
    runs' own records); a group's members are read from each run's own record, and runs that list
    different members are refused."""
    specs: dict[str, RowSpec] = {}
    groups: dict[str, GroupSpec] = {}
    for run in runs:
        for name, row in run.cv.tasks.items():
            metric = run.cv.row_metric(name)
            specs.setdefault(name, RowSpec(row.task or name, row.key or metric, metric))
        for name, group in run.cv.groups.items():
            _add_group(groups, name, GroupSpec(list(group.tasks), group.metric,
                                               group.weighted_by_size is not None, run.label))
    for label, rows in sources.items():
        for name, row in rows.rows.items():
            specs.setdefault(name, RowSpec(row.task, row.key, row.metric))
        for name, group in rows.group_rows.items():
            _add_group(groups, name, GroupSpec(list(group["tasks"]), group["metric"], False, label))
    return specs, groups


def _add_group(groups: dict[str, GroupSpec], name: str, group: GroupSpec) -> None:
    """Record ``group.run``'s group ``name``; refuse when an earlier row lists other member tasks."""
    first = groups.setdefault(name, group)
    if sorted(first.tasks) != sorted(group.tasks):
        raise TucoError(_members_differ(name, first.run, first.tasks, group.run, group.tasks))


def _members_differ(
    group: str, label_a: str, tasks_a: Sequence[str], label_b: str, tasks_b: Sequence[str]
) -> str:
    only_a, only_b = sorted(set(tasks_a) - set(tasks_b)), sorted(set(tasks_b) - set(tasks_a))
    return (
        f"group {group}: {label_a} and {label_b} were swept with different member tasks (only in "
        f"{label_a}: {', '.join(only_a) or 'none'}; only in {label_b}: {', '.join(only_b) or 'none'}); "
        "sweep both with the same group config to compare them"
    )


def _check_base_groups(
    entries: Sequence[Entry], specs: Mapping[str, RowSpec], groups: Mapping[str, GroupSpec]
) -> None:
    """A base row whose run.json lists a group must list the checkpoints' member tasks for it."""
    for entry in entries:
        if entry.kind != BASE or entry.lm_eval is not None:
            continue  # an lm-eval base's groups were checked with the other runs' (_specs)
        recorded = read_run_info(entry.run_dir).groups or {}
        for name, group in groups.items():
            plain = name.split(" [")[0].split(",")[0]  # "<group>,<filter> [<metric>]" rows
            if plain not in recorded:
                continue  # not in the base's record: the checkpoints' members are read for it
            theirs = sorted({specs[t].task for t in group.tasks if t in specs})
            own = sorted(set(leaf_tasks(plain, recorded)))
            if own != theirs:
                raise TucoError(_members_differ(name, group.run, theirs, entry.label, own))


def _read_rows(
    entries: Sequence[Entry], runs: Mapping[str, Run], specs: Mapping[str, RowSpec],
    sources: Mapping[str, LmEvalRows],
) -> dict[tuple[str, str], TaskDocs]:
    """(row label, result row) → its α = 1 docs, for every row that has the result row."""
    docs = {}
    for entry in entries:
        run, rows = runs.get(entry.label), sources.get(entry.label)
        for name, spec in specs.items():
            if rows is not None:
                if name in rows.rows:
                    where = f"{rows.run.samples_path(spec.task)}"
                    docs[entry.label, name] = records_docs(rows.records[spec.task], spec.key, where)
                continue
            present = (
                name in run.cv.tasks if run else unit_is_complete(entry.run_dir, 1.0, spec.task)
            )
            if not present:
                continue
            try:
                docs[entry.label, name] = read_alpha_one(entry.run_dir, spec.task, spec.key)
            except StoreError as err:
                raise StoreError(f"{entry.label}: {err}") from None
    return docs


def _with_clusters(
    docs: dict[tuple[str, str], TaskDocs], entries: Sequence[Entry], specs: Mapping[str, RowSpec],
    sources: Mapping[str, LmEvalRows], override: str | None,
) -> dict[tuple[str, str], TaskDocs]:
    """``docs`` with each doc's cluster, for the tasks whose docs are clustered: ``override`` (the
    command line) or the task config's ``metadata.cluster_key``, read from the first row holding
    the task (the rows share their docs)."""
    out = dict(docs)
    for name, spec in specs.items():
        holder = next((e for e in entries if (e.label, name) in docs), None)
        if holder is None:
            continue
        rows = sources.get(holder.label)
        info = rows.info() if rows is not None else read_run_info(holder.run_dir)
        key = task_cluster_key((info.task_configs or {}).get(spec.task), override)
        if key is None:
            continue
        fields = rows.doc_fields(spec.task) if rows is not None else read_doc_fields(holder.run_dir, spec.task)
        for entry in entries:
            if (entry.label, name) in docs:
                own = docs[entry.label, name]
                labels = cluster_labels(fields, own.doc_ids.tolist(), key, f"{holder.label}: task {spec.task}")
                out[entry.label, name] = replace(own, clusters=labels)
    return out


def _check_same_docs(name: str, labels: Sequence[str], docs: Sequence[TaskDocs]) -> None:
    first = dict(zip(docs[0].doc_ids.tolist(), docs[0].doc_hashes, strict=True))
    for label, other in zip(labels[1:], docs[1:], strict=True):
        theirs = dict(zip(other.doc_ids.tolist(), other.doc_hashes, strict=True))
        differing = sorted(d for d in first.keys() | theirs.keys() if first.get(d) != theirs.get(d))
        if differing:
            raise TucoError(
                f"task {name}: {labels[0]} and {label} were scored on different documents (e.g. "
                f"doc_id {differing[0]}, {len(differing)} in all); sweep both with the same task "
                "config and --limit to compare them"
            )


def _pair_records(
    result: PairTests,
    labels: Sequence[str],
    name: str,
    level: str,
    metric: str | None,
    alpha: float,
    family: str = "all",
) -> list[PairTest]:
    return [
        PairTest(
            a=labels[a],
            b=labels[b],
            task=name,
            level=level,
            metric=metric,
            n=result.n,
            diff=float(result.diff[k]),
            ci=[float(result.low[k]), float(result.high[k])],
            test=result.test,
            p=float(result.p[k]),
            p_holm=float(result.p_holm[k]),
            significant=bool(result.p_holm[k] < alpha),  # until the report's correction
            family=family,
            m=len(result.p),
            null_spread=None if result.null_spread is None else float(result.null_spread[k]),
        )
        for k, (a, b) in enumerate(zip(result.a.tolist(), result.b.tolist(), strict=True))
    ]


def resolve_families(entries: Sequence[Entry], families: Sequence[str] | None) -> tuple[str, ...]:
    """The families of pairs asked for (None: `paired.default_families` of these rows); "base"
    without a base row is refused."""
    has_base = any(e.kind == BASE for e in entries)
    checkpoints = [e for e in entries if e.kind != BASE]
    if families is None:
        return default_families(has_base, all(e.step is not None for e in checkpoints))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise TucoError(
            f"--pairs takes {', '.join(FAMILIES)} (comma-separated), got {','.join(families)!r}"
        )
    if "base" in families and not has_base:
        raise TucoError(
            "--pairs base needs a base row (a ROOT with the base's RUN_DIR, or the base's RUN_DIR); "
            "use --pairs adjacent or all"
        )
    return tuple(dict.fromkeys(families))


def _family_tests(
    labels: Sequence[str], kinds: Mapping[str, str], families: Sequence[str], test: Callable
) -> list[tuple[str, PairTests]]:
    """(family, its pairs tested) per family with at least one pair among these rows."""
    is_base = [kinds[label] == BASE for label in labels]
    out = []
    for family in families:
        pairs = family_pairs(family, is_base)
        if len(pairs[0]):
            out.append((family, test(pairs)))
    return out


def read_board(path: Path) -> Board:
    """The leaderboard.json `report` wrote at ``path``; TucoError when it is missing or not this
    format's (run `report` again)."""
    try:
        return Board.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        raise TucoError(f"{path} is unreadable ({err}); run `tuco-eval report` again") from None


def _family_counts(pairs: Sequence[PairTest]) -> list[FamilyCount]:
    """Per (family, task or group): its pairs' number m and how many are significant after the
    report's correction, never pooled across families."""
    found: dict[tuple[str, str], list[PairTest]] = {}
    for p in pairs:
        found.setdefault((p.family, p.task), []).append(p)
    return [
        FamilyCount(family, task, members[0].level, members[0].m, sum(p.significant for p in members))
        for (family, task), members in found.items()
    ]


def build_board(
    entries: Sequence[Entry],
    runs: Sequence[Run],
    families: Sequence[str] | None = None,
    allow_different_prompts: bool = False,
    correction: str = DEFAULT_CORRECTION,
    cluster_key: str | None = None,
) -> Board:
    """The leaderboard.json record of the rows ``entries`` (training order, base first); ``runs``
    are the swept rows with their CV (corrected across the report's tasks: `significance`), in
    the same order; ``families`` the families of pairs (None: `paired.default_families`), each
    corrected by ``correction`` over all its pairs and tasks. Rows whose prompts differ are
    refused (prompt_checks) unless ``allow_different_prompts``; the board then lists them.
    Clustered tasks (``cluster_key``, or a task's ``metadata.cluster_key``) get cluster-robust
    standard errors and pair tests over clusters (`paired.clustered_pairs`)."""
    families = resolve_families(entries, families)
    kinds = {e.label: e.kind for e in entries}
    by_label = {run.label: run for run in runs}
    sources = {e.label: LmEvalRows(e.lm_eval) for e in entries if e.lm_eval is not None}
    specs, groups = _specs(runs, sources)
    _check_base_groups(entries, specs, groups)
    docs = _with_clusters(_read_rows(entries, by_label, specs, sources), entries, specs, sources, cluster_key)
    cfg = runs[0].cv.config if runs else None
    seed, n_boot = (cfg.seed, cfg.n_boot or 2000) if cfg else (0, 2000)
    alpha = cfg.significance_level if cfg else SIGNIFICANCE_LEVEL
    rows = []
    for entry in entries:
        run, source = by_label.get(entry.label), sources.get(entry.label)
        tasks, row_groups = {}, {}
        for name, spec in specs.items():
            if (entry.label, name) in docs:
                cv_row = run.cv.tasks[name] if run else None
                reported = source.reported(source.rows[name]) if source else None
                tasks[name] = _task_entry(docs[entry.label, name], spec.metric, cv_row, reported,
                                          logged_tuco=source is not None)
        for name, group in groups.items():
            members = [tasks.get(t) for t in group.tasks]
            if all(members):
                cv_group = run.cv.groups.get(name) if run else None
                own = source.group_rows.get(name) if source else None
                reported = source.reported_group(own) if own else None
                row_groups[name] = _group_entry(members, group.metric, cv_group, group.weighted, reported)
        rows.append(BoardRow(entry.label, entry.source, entry.step, entry.kind, str(entry.run_dir),
                             tasks, row_groups))
    pairs, differing = [], []
    unchecked = set()
    for name, spec in specs.items():
        paired = [e for e in entries if (e.label, name) in docs]
        labels = [e.label for e in paired]
        if len(labels) > 1:
            differing += check_prompts(name, spec.task, paired, [docs[lb, name] for lb in labels],
                                       allow_different_prompts)
            unchecked |= {lb for lb in labels if docs[lb, name].prompt_hashes is None}
            _check_same_docs(name, labels, [docs[label, name] for label in labels])
            scores = np.stack([docs[label, name].scores for label in labels])
            clusters = docs[labels[0], name].clusters
            tests = _family_tests(
                labels, kinds, families,
                lambda pairs, s=scores, c=clusters: task_pairs(s, n_boot, seed, LEVEL, pairs, c),
            )
            for family, result in tests:
                pairs += _pair_records(result, labels, name, "task", spec.metric, alpha, family)
    for name, group in groups.items():
        labels = [e.label for e in entries if all((e.label, t) in docs for t in group.tasks)]
        if len(labels) > 1:
            members = [np.stack([docs[lb, t].scores for lb in labels]) for t in group.tasks]
            clusters = [docs[labels[0], t].clusters for t in group.tasks]
            tests = _family_tests(
                labels, kinds, families,
                lambda pairs, m=members, c=clusters: group_pairs(m, n_boot, seed, LEVEL, pairs, c),
            )
            for family, result in tests:
                pairs += _pair_records(
                    result, labels, name, "group", group.metric, alpha, family
                )
    pairs = correct_pairs(pairs, correction, alpha)
    metrics = {spec.metric for spec in specs.values()}
    return Board(
        format=BOARD_FORMAT,
        correction={"method": correction, "description": CORRECTIONS[correction]},
        metric=metrics.pop() if len(metrics) == 1 else None,
        objective=cfg.objective if cfg else "max",
        level=LEVEL,
        significance_level=alpha,
        seed=seed,
        n_boot=n_boot,
        prompts={"unchecked": sorted(unchecked), "differ": differing},
        rows=rows,
        pairs=pairs,
        pair_families=list(families),
        family_counts=_family_counts(pairs),
    )
