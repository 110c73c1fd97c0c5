"""Helpers shared by the tests and by scripts/: tiny models and tokenizers, the skip policy,
tolerances, seeded data sets, lm-eval folders and stores built from fixed numbers, the paper's
task lists, the docs checks' readers, the naive references the exactness tests compare against
(naive.py, reference_prompts.py), the report's fixture stores (report_runs.py), PEFT and
config-differing pairs (peft_models.py, position_pairs.py), the checkpoint-series runner
(checkpoint_series.py), the shared-data finder (shared_data.py) and the browser (browser.py).
Imported as `tests.helpers.<module>` with the repository root on sys.path (pytest: pyproject's
`pythonpath`; scripts: `python -m scripts.<name>`). What two test modules share lives here (plain
functions and constants; fixtures in tests/conftest.py, which may import these): no test module
imports another test module or conftest, and nothing here imports either
(tests/test_architecture.py checks it). `tiny_training.py` also runs as a script
(`python tests/helpers/tiny_training.py`)."""
