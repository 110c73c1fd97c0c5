"""Every per-run file name is unique whatever the run's label holds (dots, slashes, spaces,
case-only differences): `files.file_stems`, and the report that once wrote the heat maps of
`model-v1.0` and `model-v1.5` to one file (`Path.with_suffix` cut both at the dot)."""

from __future__ import annotations

import hashlib

from tuco_eval.pipeline.report import report
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.util.files import file_stems

N = 40


def test_file_stems_are_unique_whatever_the_labels_hold():
    labels = ["model-v1.0", "model-v1.5", "org/model", "org model", "Model", "model", ".hidden", "x" * 300]
    stems = file_stems(labels)
    assert stems["model-v1.0"] == "model-v1.0" and stems["model-v1.5"] == "model-v1.5"  # readable
    assert len({s.casefold() for s in stems.values()}) == len(labels)  # case-insensitive too
    assert all("/" not in s and not s.startswith(".") and len(s) < 100 for s in stems.values())
    assert file_stems(["org/model", "org model"]) == {k: stems[k] for k in ("org/model", "org model")}
    for label in ("Model", "model", "org/model"):  # a clash: each gets its own sha256's start
        slug = label.replace("/", "_")
        assert stems[label] == f"{slug}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def test_dotted_labels_get_their_own_heat_maps(tmp_path, page_for):
    # `Path.with_suffix` once cut both labels to heatmap_model-v1 and the page showed one map twice
    runs = []
    for label, right in (("model-v1.0", 10), ("model-v1.5", 30)):
        run_dir = tmp_path / label
        for alpha in (0.9, 1.0, 1.1):
            k = right + (5 if alpha == 1.1 and label == "model-v1.5" else 0)
            store.write_unit(run_dir, alpha, "t", [{"doc_id": i, "doc_hash": f"t{i}", "acc": float(i < k)} for i in range(N)])
        run_json.update_run_info(run_dir, {"model_args": f"pretrained=org/{label}", "label": label,
                                        "alphas": [0.9, 1.0, 1.1], "tasks": ["t"]})
        runs.append(run_dir)
    files = report(runs, tmp_path / "out")
    maps = sorted(f.name for f in files if f.name.startswith("heatmap_"))
    assert maps == ["heatmap_model-v1.0.png", "heatmap_model-v1.0.svg", "heatmap_model-v1.5.png", "heatmap_model-v1.5.svg"]
    assert (tmp_path / "out" / maps[0]).read_bytes() != (tmp_path / "out" / maps[2]).read_bytes()
    page = page_for(tmp_path / "out" / "index.html").page
    figures = page.locator("figure", has_text="heat map")
    assert figures.count() == 2
    sources = figures.locator("img").evaluate_all("els => els.map(e => [e.src, e.complete && e.naturalWidth])")
    assert len({src for src, _ in sources}) == 2 and all(width > 0 for _, width in sources)
    assert "model-v1.0" in figures.nth(0).inner_text() and "model-v1.5" in figures.nth(1).inner_text()
