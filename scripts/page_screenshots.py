"""Build the HTML pages from fixed inputs and screenshot them in Chromium, to compare a change
that must not alter what the pages show (e.g. moving them to templates).

    python scripts/page_screenshots.py OUT            # OUT/<page>.png, .html and .txt (visible text)
    python scripts/page_screenshots.py --compare A B  # pixel, text and markup differences of two such folders

The pages: the report (leaderboard, per-task, figures, flips, configs), its pairs matrix (a ROOT
of checkpoints), the demo's lead section, the experiment page and the token page. Inputs come
from the test fixtures' builders (tests/helpers/), written under a fixed folder so that paths shown on
the pages are the same in every run. Chromium: /usr/bin/chromium or $TUCO_CHROMIUM.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]  # tests.helpers: the tests' fixture builders and browser launcher
WORK = Path("/tmp/tuco_eval_page_inputs")  # fixed: the pages show their run folders
WIDTH = 1200


def build_pages() -> dict[str, Path]:
    """page name -> HTML file, every input rebuilt from scratch."""
    from tests.helpers.checkpoint_roots import build_root
    from tests.helpers.report_runs import (
        CORRECT,
        PERSONA_RIGHT,
        build_flip_run,
        build_run,
        experiment_records,
        persona_store,
    )
    from tuco_eval.analysis.run_cv import cross_validate
    from tuco_eval.demo.lead import demo_lead
    from tuco_eval.demo.run import accuracy_by_alpha, plot_persona
    from tuco_eval.experiments import plots as experiment_plots
    from tuco_eval.experiments import summary as summ
    from tuco_eval.experiments.page import write_experiment_page
    from tuco_eval.pipeline.report import report
    from tuco_eval.render.token_page import write_token_page

    shutil.rmtree(WORK, ignore_errors=True)
    pages: dict[str, Path] = {}

    runs = [build_run(WORK / "report" / label, label) for label in CORRECT]
    runs.append(build_flip_run(WORK / "report" / "flipper"))
    report(runs, WORK / "report" / "out")
    pages["report"] = WORK / "report" / "out" / "index.html"

    root = build_root(WORK / "pairs" / "root")
    report([root], WORK / "pairs" / "out")
    pages["pairs"] = WORK / "pairs" / "out" / "index.html"

    lead_dir = WORK / "lead"
    run_max, run_min = persona_store(lead_dir / "max"), persona_store(lead_dir / "min")
    cv_max, cv_min = cross_validate(run_max, objective="max"), cross_validate(run_min, objective="min")
    agreement = {t: accuracy_by_alpha(run_max, t) for t in cv_max.tasks}
    figure = plot_persona(agreement, cv_max, cv_min, "synthetic", lead_dir / "out" / "persona_vs_alpha")[1]
    tuco = {"means": {"persona prompts": 0.072, "plain text": 0.027}, "auc": 0.99}
    persona = {"where": "synthetic <stores> & notes", "agreement": agreement, "cv_max": cv_max,
               "cv_min": cv_min, "tuco": tuco}
    categories = {"accuracy": {0.0: 0.5, 1.0: 0.96}, "cv": cv_max, "tuco": tuco}
    lead = demo_lead(persona, categories, tuple(PERSONA_RIGHT), figure)
    report([run_max], lead_dir / "out", lead=lead)
    pages["lead"] = lead_dir / "out" / "index.html"

    out = WORK / "experiment"
    out.mkdir(parents=True)
    records = experiment_records()
    figures = experiment_plots.histograms(records, "web-vs-chat", out / "tuco_hist")
    figures += experiment_plots.layer_profiles(records, "web-vs-chat", out / "layer_profile")
    summary = {"experiment": "web-vs-chat", "finetuned": "ft", "base": "pt", "n": 10, "seed": 0,
               "sets": summ.set_statistics(records), "auc": summ.set_aucs(records, [("chat", "web")])}
    (out / "summary.json").write_text(json.dumps(summary))
    pages["experiment"] = write_experiment_page(out, "web-vs-chat", records, summary, figures)

    pages["tokens"] = write_token_page(WORK / "tokens.html", token_records(), {"fine-tuned": "ft <x>", "base": "pt"})
    return pages


def token_records() -> list[dict]:
    """Two prompts with fixed per-token TuCo; the second with a generated response and a newline."""
    first = ["The", " quick", " <b>brown</b>", " fox", " &", " jumps"]
    second = ["Question", ":", " what", " is", " fine", "-tuning", "?", "\n", "It", " changes", ""]
    return [
        {"id": "p0", "tuco": 0.12, "n_tokens": len(first), "tokens": first,
         "tuco_per_token": [0.01 * (i + 1) for i in range(len(first))]},
        {"id": "p1 <hostile>", "tuco": 0.31, "n_tokens": 8, "n_response_tokens": 3, "tokens": second,
         "tuco_per_token": [0.03 * i for i in range(len(second))]},
    ]


def screenshot(pages: dict[str, Path], out: Path) -> None:
    from tests.helpers.browser import launch_browser

    out.mkdir(parents=True, exist_ok=True)
    driver, browser = launch_browser()
    try:
        for name, path in pages.items():
            context = browser.new_context(viewport={"width": WIDTH, "height": 900})
            page = context.new_page()
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            (out / f"{name}.txt").write_text(page.locator("body").inner_text())
            shutil.copy(path, out / f"{name}.html")
            context.close()
    finally:
        browser.close()
        driver.stop()


def markup(path: Path) -> str:
    """A page's markup with what may differ between equal pages taken out: figures' data (their
    SVG ids are random) and how a character is escaped (`&#x27;` or `&#39;`)."""
    text = re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "data:…", path.read_text())
    return html.unescape(text)


def compare(before: Path, after: Path) -> int:
    """Prints per page: size, differing pixels, whether the visible text and the markup are the same."""
    import numpy as np
    from PIL import Image

    changed = 0
    for png in sorted(before.glob("*.png")):
        a = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
        b = np.asarray(Image.open(after / png.name).convert("RGB"), dtype=np.int16)
        same_text = (before / f"{png.stem}.txt").read_text() == (after / f"{png.stem}.txt").read_text()
        same_markup = markup(before / f"{png.stem}.html") == markup(after / f"{png.stem}.html")
        if a.shape != b.shape:
            size = f"size {a.shape[1]}x{a.shape[0]} -> {b.shape[1]}x{b.shape[0]}"
            print(f"{png.stem}: {size}, text same: {same_text}, markup same: {same_markup}")
            changed += 1
            continue
        differing = int((np.abs(a - b).max(axis=2) > 0).sum())
        print(f"{png.stem}: {a.shape[1]}x{a.shape[0]} px, {differing} pixels differ, text same: "
              f"{same_text}, markup same: {same_markup}")
        changed += bool(differing) or not same_text
    return changed


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(1 if compare(Path(sys.argv[2]), Path(sys.argv[3])) else 0)
    target = Path(sys.argv[1])
    screenshot(build_pages(), target)
    print(f"screenshots in {target}")
