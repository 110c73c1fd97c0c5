"""Typed records of what tuco-eval writes and what its report shows: one dataclass per file
format with ``from_json`` / ``to_json`` (cv.json: `cv_json`, leaderboard.json: `board_json`),
and the report model that `tuco_eval.analysis.report_model` builds and `tuco_eval.render` draws
(`report`). Plain data: no file, no statistics, nothing above `tuco_eval.util`."""
