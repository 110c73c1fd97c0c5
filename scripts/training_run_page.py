"""A 30-row training-run page from lm-eval output folders, and its screenshots: the base and 29
checkpoints (steps 100 … 2,900) of one group of three tasks, as `lm_eval --model hf --log_samples`
writes them, reported by `tuco-eval report` with its default families (base, adjacent).

    python -m scripts.training_run_page OUT   # OUT/folders/, OUT/report/, OUT/*.png

Each checkpoint's chance of a right answer rises with training (saturating), each doc drawn once
per row; Chromium: /usr/bin/chromium or $TUCO_CHROMIUM. docs/checkpoints.md shows the pictures.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

STEPS = list(range(100, 3000, 100))  # 29 checkpoints
TASKS = {"arc_like": 300, "boolq_like": 400, "piqa_like": 250}


def build_folders(root: Path, seed: int = 0) -> list[str]:
    """The base's folder and one per checkpoint; returns them in training order."""
    from tests.helpers.lm_eval_files import write_lm_eval_run

    rng = np.random.default_rng(seed)
    difficulty = {t: rng.normal(0, 1.2, n) for t, n in TASKS.items()}
    folders = []
    for label, step in [("base", 0), *((f"checkpoint-{s}", s) for s in STEPS)]:
        skill = 0.9 * (1 - np.exp(-step / 800))  # training helps, then saturates
        scores = {t: (rng.random(len(d)) < 1 / (1 + np.exp(d - skill))).astype(float)
                  for t, d in difficulty.items()}
        write_lm_eval_run(root / label, f"pretrained=runs/sft/{label}", "reasoning", scores, "acc")
        folders.append(str(root / label))
    return folders


def screenshots(page_path: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("TUCO_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        for section in ("leaderboard", "pairs", "series"):
            path = out / f"training_run_{section}.png"
            page.locator(f"#s-{section}").screenshot(path=str(path))
            shots.append(path)
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    from tuco_eval.pipeline.report import report

    folders = build_folders(args.out / "folders")
    report(folders, args.out / "report", labels=["base", *(f"step-{s}" for s in STEPS)])
    for path in screenshots(args.out / "report" / "index.html", args.out):
        print(path)


if __name__ == "__main__":
    main()
