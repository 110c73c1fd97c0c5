"""Tables, figures and pages drawn from records (`tuco_eval.records`: the report model, cv.json,
leaderboard.json): Markdown, LaTeX and CSV with one numeric-cell rule (`tables`; cv.json's
tables in `cv_tables`, the report's files in `report_tables`), matplotlib figures (`plots`), the
self-contained HTML pages as jinja2 templates with autoescape (`templates/`, shared pieces in
`html_page`; the report page, its pairs matrix and the token page in `html_report`,
`html_pairs`, `token_page`), the multi-mode report (`mode_tables`) and every file of a report
(`report.write_report`).

May import records and util, pytablewriter, matplotlib and jinja2; nothing that computes or
reads a store (analysis, stats, store, core, harness, sweeps) and never torch, transformers,
lm-eval, peft or accelerate (`lint-imports` checks both).
"""
