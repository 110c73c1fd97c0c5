"""Runs written through lm-eval: the α sweep over tasks one (α, task) unit at a time with the
pair loaded once (`alphas`), the same once per scaling mode (`modes`), and a series of
checkpoints against one base loaded once (`series`), and lm-eval's own α runs of one pair
gathered into a RUN_DIR (`lm_eval_import`). Each writes a store and nothing else.

May import the harness, analysis (to read lm-eval folders as rows), core, the store, records and
util (lm-eval and torch at call time); not render: numbers are computed from the store afterwards.
"""
