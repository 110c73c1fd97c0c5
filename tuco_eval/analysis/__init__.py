"""Statistics over stores, no model needed: the paper's cross-validation of α as pure functions
of score arrays (`cv`), a RUN_DIR's cv.json (`run_cv`), groups of tasks (`group_figures`), a
group's interval from its tasks' (`intervals`), the scaling modes compared on the same folds
(`modes`), paired tests between rows (`paired`), docs that flip between α = 1 and another α
(`flips`), the runs a report compares (`leaderboard`), and the rows of a checkpoint series with
leaderboard.json's values (`checkpoint_rows`, `checkpoint_board`).

May import numpy, scipy, scikit-learn, the store and util; never torch, transformers, lm-eval,
peft or accelerate (`lint-imports` checks), and nothing of render: numbers here, text there.
"""
