"""The paper's measurement experiments: prompt sets (`prompts`), TuCo and OutputCo per set
(`run`, `outputco`), jailbreak success (`jailbreak`), and their statistics, plots and page
(`summary`, `plots`, `page`). See docs/experiments.md.
"""

# the experiments `run.EXPERIMENTS` defines, named here so the CLI lists them without torch
NAMES = ("web-vs-chat", "languages", "many-shot", "gcg")
