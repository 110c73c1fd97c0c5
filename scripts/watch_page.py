"""The page of a watched training run, while it waits for the next checkpoint and after: a real
tiny fine-tune (tests/helpers/tiny_training.py, HF Trainer on the CPU, a checkpoint every 2 steps of 16,
save_total_limit=3) watched by `tuco-eval watch` from before its first save.

    python -m scripts.watch_page OUT   # OUT/train, OUT/root (ROOT/report/index.html), OUT/watch_*.png

The trainer waits for the watcher after each save (as a trainer slower than its watcher would)
and holds after step 8 until the first screenshot is taken. Chromium: /usr/bin/chromium or
$TUCO_CHROMIUM. docs/checkpoints.md shows the pictures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
HOLD_STEP = 8


def _wait(condition, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.3)


def _state(root: Path) -> dict:
    try:
        return json.loads((root / "watch.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def screenshot(page: Path, out: Path) -> Path:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("TUCO_CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(page.as_uri())
        tab.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1280, "height": 1100}, full_page=True)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out.resolve()
    from tests.helpers.tiny_models import FIXTURE_TASKS, save_pair

    shutil.rmtree(out, ignore_errors=True)
    _, base = save_pair(out / "pair", "llama")
    train, root, release = out / "train", out / "root", out / "release"
    train.mkdir(parents=True)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tuco_eval", "watch", str(train), "--model-args", f"base={base}",
         "--tasks", "tiny_mc", "--include-path", FIXTURE_TASKS, "--output", str(root),
         "--alphas", "0.75,0.9,1.0,1.1,1.25", "--poll-seconds", "0.5"], env=ENV)
    trainer = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "helpers" / "tiny_training.py"), base, str(train), "--max-steps", "16",
         "--pace", str(root), "--hold-after", str(HOLD_STEP), "--hold-file", str(release)], env=ENV)
    page = root / "report" / "index.html"
    _wait(lambda: f"checkpoint-{HOLD_STEP}" in _state(root).get("evaluated", {})
          and _state(root).get("evaluating") is None and page.is_file()
          and "Waiting for the next checkpoint after" in page.read_text() and f"step-{HOLD_STEP}<" in page.read_text(),
          "the watcher never waited")
    print(screenshot(page, out / "watch_waiting.png"))
    release.touch()
    assert trainer.wait(timeout=600) == 0 and watcher.wait(timeout=600) == 0
    print(screenshot(page, out / "watch_finished.png"))


if __name__ == "__main__":
    main()
