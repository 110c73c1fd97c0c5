"""Whole flows across the layers below, each a function: `report` (run folders to a report's
files: rows resolved, lm-eval α runs gathered into RUN_DIRs, the model built, then drawn).

May import sweeps, render, analysis and everything below them; imported by watch, demo and the
commands."""
