"""The experiments `run.EXPERIMENTS` defines, named apart so the CLI lists them without torch."""

NAMES = ("web-vs-chat", "languages", "many-shot", "gcg")
