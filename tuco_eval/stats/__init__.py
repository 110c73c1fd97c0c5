"""Statistics as pure functions: arrays in, typed results out; no file, no torch, no lm-eval.

Cross-validation of α (`cv`, `fold_choice`, `cv_bootstrap`, `alpha_null`, `group_cv`,
`group_figures`), paired tests between rows scored on the same documents (`paired`, `sign_flip`),
the correction across tasks and what "significant" means on a page (`multiplicity`,
`significance`), and power (`power`). The module a statistician reviews on its own.
"""
