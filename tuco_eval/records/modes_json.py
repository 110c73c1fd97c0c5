"""modes.json (docs/formats.md, "modes.json"): a RUN_DIR swept in several scaling modes, each
mode's cv.json result and the per-task comparison of the modes, as `ModesResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuco_eval.records.cv_json import CV_FORMAT, CVResult, OldFormat


@dataclass(frozen=True)
class ModesResult:
    """A whole modes.json: its settings, per task each mode's CV and each pair's test, and each
    mode's cv.json result."""

    config: dict[str, Any]  # folds, objective, seed, metric, ..., modes, label, fingerprint
    tasks: dict[str, dict[str, Any]]  # task → {"n", "modes", "pairs", "best", "metric"}
    per_mode: dict[str, CVResult]

    def to_json(self) -> dict[str, Any]:
        per_mode = {mode: result.to_json() for mode, result in self.per_mode.items()}
        return {"config": self.config, "tasks": self.tasks, "per_mode": per_mode}

    @classmethod
    def from_json(cls, obj: Any) -> ModesResult:
        """The record of a parsed modes.json; `OldFormat` for another format or shape."""
        try:
            if obj["config"].get("format") != CV_FORMAT:
                raise OldFormat(f"modes.json format {obj['config'].get('format')}, not {CV_FORMAT}")
            per_mode = {mode: CVResult.from_json(r) for mode, r in obj["per_mode"].items()}
            return cls(dict(obj["config"]), dict(obj["tasks"]), per_mode)
        except (KeyError, TypeError, AttributeError) as err:
            raise OldFormat(f"not a modes.json of format {CV_FORMAT} ({err!r})") from None
