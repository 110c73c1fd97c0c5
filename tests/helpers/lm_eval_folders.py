"""lm-eval output folders as `lm_eval --log_samples --output_path DIR` writes them: lm-eval's own
`simple_evaluate` and `EvaluationTracker`, saved in the CLI's order (lm_eval/_cli/run.py), in
process over the fixture tasks (the CLI would index lm-eval's ~14,700 built-in tasks per call)."""

from __future__ import annotations

import json
from pathlib import Path

from lm_eval import simple_evaluate
from lm_eval.loggers import EvaluationTracker
from lm_eval.utils import handle_non_serializable


def lm_eval_run(output_path: Path, model: str, model_args: str, tasks: list[str], task_manager,
                **kwargs) -> Path:
    """Run lm-eval as its CLI does with --log_samples --output_path; returns the folder it wrote."""
    tracker = EvaluationTracker(output_path=str(output_path))
    results = simple_evaluate(model=model, model_args=model_args, tasks=tasks, task_manager=task_manager,
                              log_samples=True, evaluation_tracker=tracker, device="cpu", batch_size=4,
                              **kwargs)
    samples = results.pop("samples")
    json.dumps(results, default=handle_non_serializable)  # as the CLI, which prints it
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return Path(output_path) / tracker.general_config_tracker.model_name_sanitized
