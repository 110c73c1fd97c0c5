"""A single pair's RUN_DIR, swept without a label, is labelled on the page like a checkpoint (the
fine-tuned model's last folder or Hub id part, parents only to tell two apart), never by the
absolute path run.json records; leaderboard.json keeps the whole source."""

from __future__ import annotations

import json

import pytest

from tests.helpers.checkpoint_roots import write_run
from tuco_eval.pipeline.report import report
from tuco_eval.store.run_json import read_run_info
from tuco_eval.util.checkpoint_labels import single_pair_labels


@pytest.mark.parametrize(("sources", "labels"), [
    (["/x/gpt2-pair/ft", "/x/qwen2-pair/ft"], ["gpt2-pair/ft", "qwen2-pair/ft"]),
    (["/x/gpt2-pair/ft"], ["ft"]),
    (["/a/one/ft", "/a/two/ft", "/a/two/other"], ["one/ft", "two/ft", "other"]),
    (["/r/sft/ft", "/q/sft/ft"], ["r/sft/ft", "q/sft/ft"]),
    (["org/model@v2", "/runs/checkpoint-300/"], ["model@v2", "step-300"]),
])
def test_labels_are_the_last_part_with_parents_only_where_two_clash(sources, labels):
    assert single_pair_labels(sources) == labels


def test_two_single_pair_runs_reported_together(tmp_path):
    sources = [str(tmp_path / "models" / family / "ft") for family in ("gpt2-pair", "qwen2-pair")]
    runs = []
    for source, name in zip(sources, ("run-a", "run-b"), strict=True):
        base = source.replace("/ft", "/base")
        # no label given: the store records the fine-tuned model's path, as `tuco-eval sweep` does
        runs.append(write_run(tmp_path / name, "step-100", {"model_args": f"pretrained={source},base={base}"}))
        assert read_run_info(runs[-1]).label == source
    out = tmp_path / "report"
    report(runs, out)
    board = json.loads((out / "leaderboard.json").read_text())
    assert [(r["label"], r["source"]) for r in board["rows"]] == list(zip(
        ["gpt2-pair/ft", "qwen2-pair/ft"], sources, strict=True))
    page = (out / "index.html").read_text()
    shown, configurations = page.split('id="s-configs"')  # the run configurations keep the whole source
    assert str(tmp_path) not in shown and sources[0] in configurations
    assert "gpt2-pair/ft" in shown and "qwen2-pair/ft" in shown
    for other in set(out.glob("*.html")) - {out / "index.html"}:
        assert str(tmp_path) not in other.read_text(), other.name
