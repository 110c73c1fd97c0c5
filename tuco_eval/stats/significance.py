"""One meaning of "significant" on a page (docs/statistics.md, "One meaning of significance"): every star,
colour and bold is a test's adjusted p below the level, the correction (`multiplicity`) run over
every test of its kind in the report:

- Δ_CV of every (row, task): one family; Δ_CV of every (row, group): another;
- each family of paired tests (`paired.FAMILIES`) over all its pairs and tasks: one family; over
  all its pairs and groups: another.

A Δ_CV is significant when its adjusted p is below the level and it points the way of the
objective (a significant loss is not a gain). Every test also gets the raw level the correction
asks of it and the smallest effect it would detect there with 80 % power (`power`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tuco_eval.records.board_json import PairTest
from tuco_eval.records.cv_json import Correction, CVResult
from tuco_eval.stats.cv import objective_sign
from tuco_eval.stats.multiplicity import DEFAULT_CORRECTION, adjust, raw_levels
from tuco_eval.stats.power import detectable


def _correct(p: Sequence[float], method: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    if not len(p):
        return p, p
    adjusted = adjust(p, method)
    return adjusted, raw_levels(adjusted, level, method)


def corrected_cv(
    results: Sequence[CVResult], method: str = DEFAULT_CORRECTION, level: float = 0.05
) -> list[CVResult]:
    """The cv.json results with every task and group row's `Correction` (adjusted p, raw level,
    detectable gain) and ``significant`` after the correction across every result's tasks (resp.
    groups); a group's ``share_significant`` counts its tasks significant after the correction."""
    tasks = _corrected_rows(results, "tasks", method, level)
    groups = _corrected_rows(results, "groups", method, level)
    out = []
    for result, own_tasks, own_groups in zip(results, tasks, groups, strict=True):
        for name, group in own_groups.items():
            members = [own_tasks[t].significant for t in group.tasks if t in own_tasks]
            own_groups[name] = replace(group, share_significant=float(np.mean(members)) if members else 0.0)
        out.append(result.corrected(method, own_tasks, own_groups))
    return out


def _corrected_rows(results: Sequence[CVResult], kind: str, method: str, level: float) -> list[dict]:
    """Per result, its rows of ``kind`` ("tasks" or "groups"), those with a p-value corrected."""
    out = [dict(getattr(r, kind)) for r in results]
    cells = [(i, name, row) for i, rows in enumerate(out) for name, row in rows.items()
             if row.p_value is not None]
    adjusted, levels = _correct([row.p_value for _, _, row in cells], method, level)
    for (i, name, row), p_adj, raw in zip(cells, adjusted, levels, strict=True):
        sign = objective_sign(results[i].config.objective)
        significant = bool(p_adj < level and sign * row.delta_cv > 0)
        spread, se = (row.null_sd, row.se) if kind == "tasks" else (row.inference.null_sd, row.inference.se)
        correction = Correction(float(p_adj), float(raw), detectable(spread, float(raw), se))
        if kind == "tasks":
            out[i][name] = replace(row, significant=significant, correction=correction)
        else:
            inference = replace(row.inference, significant=significant)
            out[i][name] = replace(row, inference=inference, correction=correction)
    return out


def correct_pairs(
    pairs: Sequence[PairTest], method: str = DEFAULT_CORRECTION, level: float = 0.05
) -> list[PairTest]:
    """The pair tests with ``p_adjusted``, ``significant``, ``raw_level``, ``mde`` and
    ``m_report``, the correction run per (family, level) over all its pairs and tasks (or groups)."""
    families: dict[tuple[str, str], list[int]] = {}
    for i, pair in enumerate(pairs):
        families.setdefault((pair.family, pair.level), []).append(i)
    out = list(pairs)
    for members in families.values():
        adjusted, levels = _correct([pairs[i].p for i in members], method, level)
        for i, p_adj, raw in zip(members, adjusted, levels, strict=True):
            spread = pairs[i].null_spread
            out[i] = replace(
                pairs[i], p_adjusted=float(p_adj), significant=bool(p_adj < level),
                raw_level=float(raw), mde=None if spread is None else detectable(spread, float(raw)),
                m_report=len(members), null_spread=None,
            )
    return out
