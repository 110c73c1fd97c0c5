"""Runs written through lm-eval: the α sweep over tasks one (α, task) unit at a time with the
pair loaded once (`alphas`), the same once per scaling mode (`modes`), and a series of
checkpoints against one base loaded once (`series`). Each writes a store and nothing else.

May import the harness, core, the store and util (lm-eval and torch at call time); not analysis
or render: numbers are computed from the store afterwards.
"""
