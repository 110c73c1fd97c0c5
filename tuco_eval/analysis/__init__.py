"""Reports assembled from what is on disk, no model needed: a RUN_DIR's cv.json (`run_cv`), the
scaling modes compared on the same folds (`mode_comparison`), docs that flip between α = 1 and
another α (`flips`), the runs a report compares (`leaderboard`), the rows of a checkpoint series
with leaderboard.json's values (`checkpoint_rows`, `checkpoint_board`), lm-eval output folders
as rows (`lm_eval_rows`), the prompt settings rows must share (`prompt_checks`), and the whole
report built once as `tuco_eval.records.report.Report` (`report_model`). The statistics they
apply are `tuco_eval.stats`, pure functions of arrays; what they return are `tuco_eval.records`.

May import numpy, scipy, the store, stats, records and util; never torch, transformers, lm-eval,
peft or accelerate (`lint-imports` checks), and nothing of render: numbers here, text there.
"""
