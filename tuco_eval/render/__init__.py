"""Tables, figures and pages from analysis results: Markdown, LaTeX and CSV with one numeric-cell
rule (`tables`; cv.json's tables in `cv_tables`, the report's files in `report_tables`),
matplotlib figures (`plots`), the self-contained HTML pages as jinja2 templates with autoescape
(`templates/`, shared pieces in `html_page`; the values of the report page, its pairs matrix and
the token page in `html_report`, `html_pairs`, `token_page`), the multi-mode report (`modes`) and
`tuco-eval report` itself (`report`).

May import analysis, the store and util, pytablewriter, matplotlib and jinja2; never torch,
transformers, lm-eval, peft or accelerate (`lint-imports` checks).
"""
