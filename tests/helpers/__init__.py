"""Helpers shared by the tests and by scripts/: tiny models and tokenizers, the skip policy,
tolerances, seeded data sets, lm-eval folders and stores built from fixed numbers, the paper's
task lists, the docs checks' readers. Imported as `tests.helpers.<module>` with the repository
root on sys.path (pytest: pyproject's `pythonpath`; scripts: `python -m scripts.<name>`).
`tiny_training.py` also runs as a script (`python tests/helpers/tiny_training.py`)."""
