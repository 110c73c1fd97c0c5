"""The paper's measurement experiments: prompt sets (`prompts`), TuCo and OutputCo per set
(`run`, `outputco`), jailbreak success (`jailbreak`), and their statistics, plots and page
(`summary`, `plots`, `page`). See docs/experiments.md.
"""

NAMES = ("web-vs-chat", "languages", "many-shot", "gcg")  # run.EXPERIMENTS' keys, listed without torch


def __getattr__(name: str):
    # `from tuco_eval.experiments import run_experiment` works; torch loads on that first use only
    if name in ("run_experiment", "EXPERIMENTS"):
        from tuco_eval.experiments import run

        return getattr(run, name)
    raise AttributeError(f"module 'tuco_eval.experiments' has no attribute {name!r}")
