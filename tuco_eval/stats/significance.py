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

from collections.abc import Mapping, Sequence

import numpy as np

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
    results: Sequence[Mapping], method: str = DEFAULT_CORRECTION, level: float = 0.05
) -> list[dict]:
    """Copies of cv.json results whose tasks and groups carry ``p_adjusted``, ``significant``
    (after the correction across every result's tasks, resp. groups), ``raw_level`` and ``mde``;
    a group's ``share_significant`` counts its tasks significant after the correction."""
    out = [
        {**r, "config": {**r["config"], "correction": method},
         "tasks": {n: dict(t) for n, t in r["tasks"].items()},
         "groups": {n: dict(g) for n, g in r.get("groups", {}).items()}}
        for r in results
    ]
    for kind in ("tasks", "groups"):
        cells = [(r, row) for r in out for row in r[kind].values() if row.get("p_value") is not None]
        adjusted, levels = _correct([row["p_value"] for _, row in cells], method, level)
        for (result, row), p_adj, raw in zip(cells, adjusted, levels, strict=True):
            sign = objective_sign(result["config"]["objective"])
            row["p_adjusted"] = float(p_adj)
            row["significant"] = bool(p_adj < level and sign * row["delta_cv"] > 0)
            row["raw_level"] = float(raw)
            row["mde"] = detectable(row.get("null_sd", 0.0), float(raw), row.get("se", 0.0))
    for result in out:
        for group in result["groups"].values():
            members = [result["tasks"][t]["significant"] for t in group["tasks"] if t in result["tasks"]]
            group["share_significant"] = float(np.mean(members)) if members else 0.0
    return out


def correct_pairs(pairs: list[dict], method: str = DEFAULT_CORRECTION, level: float = 0.05) -> None:
    """Each pair record gets ``p_adjusted``, ``significant``, ``raw_level`` and ``mde``, the
    correction run per (family, level) over all its pairs and tasks (or groups)."""
    families: dict[tuple[str, str], list[dict]] = {}
    for pair in pairs:
        families.setdefault((pair["family"], pair["level"]), []).append(pair)
    for members in families.values():
        adjusted, levels = _correct([p["p"] for p in members], method, level)
        for pair, p_adj, raw in zip(members, adjusted, levels, strict=True):
            pair["p_adjusted"] = float(p_adj)
            pair["significant"] = bool(p_adj < level)
            pair["raw_level"] = float(raw)
            spread = pair.pop("null_spread", None)
            pair["mde"] = None if spread is None else detectable(spread, float(raw))
            pair["m_report"] = len(members)
