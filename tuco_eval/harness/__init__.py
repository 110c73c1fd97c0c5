"""lm-eval's side: the model type `tuco_scaled` (`tuco_scaled.TucoScaledLM`, HFLM with its two
model entry points wrapped in the joint pass), what it adds to logged samples (`request_log`),
shared few-shot prefixes computed once (`prefix`, `prefix_scoring`), and the paper's task data
(`task_data`: the local-data switch and `tasks_dir`; `task_datasets`: the datasets behind the
YAML tasks).

May import lm-eval, datasets, `tuco_eval.core` and `tuco_eval.util`; nothing of the store,
analysis or render.
"""
