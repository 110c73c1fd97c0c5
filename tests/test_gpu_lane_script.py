"""scripts/gpu_lane.py's own logic (the lane itself runs on a GPU machine; `--quick` on a CPU):
the marked section of contributing/performance.md, the JUnit summary, the error/tolerance table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_lane.py"


@pytest.fixture(scope="module")
def lane():
    spec = importlib.util.spec_from_file_location("gpu_lane", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_marked_section_is_replaced_and_the_rest_kept(lane):
    begin, end = lane.GPU_LANE_BEGIN, lane.GPU_LANE_END
    text = f"# Performance\n\nbefore\n\n{begin}\nold figures\n{end}\n\nafter\n"
    once = lane.rewrite_section(text, "new figures\n")
    assert once == f"# Performance\n\nbefore\n\n{begin}\nnew figures\n{end}\n\nafter\n"
    assert lane.rewrite_section(once, "new figures") == once
    appended = lane.rewrite_section("# Performance\n\nno section yet\n", "first")
    assert appended == f"# Performance\n\nno section yet\n\n{begin}\nfirst\n{end}\n"


def test_the_docs_hold_the_markers_once(lane):
    doc = lane.DOC.read_text()
    assert doc.count(lane.GPU_LANE_BEGIN) == doc.count(lane.GPU_LANE_END) == 1
    assert doc.index(lane.GPU_LANE_BEGIN) < doc.index(lane.GPU_LANE_END)


def test_worst_ratio_per_check_and_dtype(lane):
    rows = [("stream, llama, α=0.5", "bfloat16", 0.01, 0.04), ("stream, gpt2, α=1.25", "bfloat16", 0.02, 0.04),
            ("stream, llama, α=0.5", "float32", 1e-6, 1e-4), ("TuCo, llama, α=1", "bfloat16", 0.0, 0.02)]
    lines = [json.dumps({"check": c, "dtype": d, "error": e, "tolerance": t}) for c, d, e, t in rows]
    assert lane.worst_ratios(lines) == [("TuCo", "bfloat16", 0.0, 0.02, 0.0),
                                        ("stream", "bfloat16", 0.02, 0.04, 0.5),
                                        ("stream", "float32", 1e-6, 1e-4, pytest.approx(0.01))]


def test_junit_summary_counts_and_names_failures(lane, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" time="12.5">'
        '<testcase classname="tests.test_gpu_lane" name="test_a[float32]" time="1"/>'
        '<testcase classname="tests.test_gpu_lane" name="test_a[bfloat16]" time="1">'
        '<failure message="AssertionError: (\'stream\', 0.5, 0.03)">trace</failure></testcase>'
        '<testcase classname="tests.test_gpu_lane" name="test_b" time="0"><skipped message="no CUDA"/></testcase>'
        '</testsuite></testsuites>')
    counts, seconds, failures = lane.junit_summary(path)
    assert dict(counts) == {"passed": 1, "failed": 1, "skipped": 1} and seconds == 12.5
    assert failures == ["test_a[bfloat16]: AssertionError: ('stream', 0.5, 0.03)"]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPT.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rehearsal_holds_the_image_and_the_wheels_carry_the_rest():
    from packaging.utils import canonicalize_name

    image = {canonicalize_name(n) for n in _script("gpu_lane_rehearse").IMAGE_HAS}
    carried = {canonicalize_name(n) for n in _script("gpu_lane_wheels").MISSING_THERE}
    pinned = {canonicalize_name(line.split("==")[0]) for line in
              (SCRIPT.parents[1] / "constraints" / "gpu-machine.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert not image & carried  # a package is either the machine's or carried, never both
    assert pinned <= image  # every version read off the machine is installed in the rehearsal
