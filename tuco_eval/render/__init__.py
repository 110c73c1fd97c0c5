"""Tables, figures and pages from analysis results: Markdown, LaTeX and CSV (`tables`, with the
cells of cv.json in `cv_tables` and the report's files in `report_tables`), matplotlib figures
(`plots`), the self-contained HTML pages (`html_page`, `html_report`, `html_pairs`,
`token_page`), the multi-mode report (`modes`) and `tuco-eval report` itself (`report`).

May import analysis, the store and util, pytablewriter and matplotlib; never torch,
transformers, lm-eval, peft or accelerate (`lint-imports` checks).
"""
