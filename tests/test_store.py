"""The per-sample store: atomic units, checksums, locks, run.json merging, score matrices."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.store.units import StoreError
from tuco_eval.util import params
from tuco_eval.util.errors import TucoError

REPO = Path(__file__).resolve().parents[1]


def records(n: int, acc_of=lambda i: float(i % 2), hash_of=lambda i: f"h{i}") -> list[dict]:
    return [
        {
            "doc_id": i,
            "doc_hash": hash_of(i),
            "acc": acc_of(i),
            "acc_norm": 1.0 - acc_of(i),
            "loglikelihoods": [-1.5, -0.25 * i],
            "tuco": 0.125,
        }
        for i in range(n)
    ]


def test_format_alpha_spelling():
    assert [params.format_alpha(a) for a in (0.9, 1, 1.0, 1.05, 0.75)] == [
        "0.9",
        "1.0",
        "1.0",
        "1.05",
        "0.75",
    ]
    with pytest.raises(TucoError):
        params.format_alpha(float("nan"))


def test_store_error_is_a_tuco_error():
    assert issubclass(StoreError, TucoError)


def test_write_read_round_trip(tmp_path):
    recs = records(7)
    path = store.write_unit(tmp_path, 1.05, "task_a", recs)
    assert path == tmp_path / "samples" / "alpha=1.05" / "task_a.jsonl"
    assert store.unit_is_complete(tmp_path, 1.05, "task_a")
    assert store.read_unit(tmp_path, 1.05, "task_a") == recs
    manifest = json.loads((path.parent / "task_a.done.json").read_text())
    assert manifest["n"] == 7
    assert manifest["metrics"] == ["acc", "acc_norm"]  # tuco and doc_id are not metrics
    assert not list(path.parent.glob("*.tmp"))  # no temporary file left behind


def test_numpy_values_are_stored_as_plain_json(tmp_path):
    recs = [{"doc_id": 0, "doc_hash": "x", "acc": np.float32(1.0), "loglikelihoods": np.zeros(2)}]
    store.write_unit(tmp_path, 1.0, "t", recs)
    assert store.read_unit(tmp_path, 1.0, "t")[0]["loglikelihoods"] == [0.0, 0.0]


def test_bad_records_are_refused(tmp_path):
    with pytest.raises(StoreError, match="doc_id"):
        store.write_unit(tmp_path, 1.0, "t", [{"doc_hash": "x", "acc": 1.0}])
    with pytest.raises(StoreError, match="doc_hash"):
        store.write_unit(tmp_path, 1.0, "t", [{"doc_id": 0, "acc": 1.0}])
    with pytest.raises(StoreError, match="file name"):
        store.write_unit(tmp_path, 1.0, "../escape", records(1))


def test_missing_manifest_means_incomplete(tmp_path):
    path = store.write_unit(tmp_path, 1.0, "t", records(3))
    (path.parent / "t.done.json").unlink()
    assert not store.unit_is_complete(tmp_path, 1.0, "t")
    assert store.list_units(tmp_path) == {}
    with pytest.raises(StoreError, match="no manifest"):
        store.read_unit(tmp_path, 1.0, "t")


def test_truncated_jsonl_is_detected(tmp_path):
    path = store.write_unit(tmp_path, 0.9, "t", records(5))
    path.write_bytes(path.read_bytes()[:-20])
    assert not store.unit_is_complete(tmp_path, 0.9, "t")
    with pytest.raises(StoreError, match="t.jsonl.*checksum.*rerun the sweep"):
        store.read_unit(tmp_path, 0.9, "t")


def test_edited_line_is_detected(tmp_path):
    path = store.write_unit(tmp_path, 0.9, "t", records(5))
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"acc": 0.0', '"acc": 1.0')
    path.write_text("".join(lines))
    assert not store.unit_is_complete(tmp_path, 0.9, "t")
    assert store.list_units(tmp_path) == {}
    with pytest.raises(StoreError, match=str(path)):
        store.read_unit(tmp_path, 0.9, "t")


def test_rewriting_a_unit_replaces_it(tmp_path):
    store.write_unit(tmp_path, 1.0, "t", records(5))
    store.write_unit(tmp_path, 1.0, "t", records(2))
    assert len(store.read_unit(tmp_path, 1.0, "t")) == 2


def test_list_units_only_complete(tmp_path):
    store.write_unit(tmp_path, 1.0, "a", records(3))
    store.write_unit(tmp_path, 1.1, "a", records(3))
    broken = store.write_unit(tmp_path, 1.0, "b", records(3))
    broken.write_text("garbage\n")
    units = store.list_units(tmp_path)
    assert list(units) == ["a"]
    assert list(units["a"]) == [1.0, 1.1]
    assert units["a"][1.1] == tmp_path / "samples" / "alpha=1.1" / "a.jsonl"


def test_lock_refuses_a_second_holder_in_process(tmp_path):
    with store.unit_lock(tmp_path, 1.05, "a"):
        with pytest.raises(StoreError, match=r"already running alpha=1\.05 a "):
            with store.unit_lock(tmp_path, 1.05, "a"):
                pass
        with store.unit_lock(tmp_path, 0.9, "a"):  # another alpha is free
            pass
        with store.unit_lock(tmp_path, 1.05, "b"):  # and so is another task at the same alpha
            pass
    with store.unit_lock(tmp_path, 1.05, "a"):  # released on exit
        pass


_HOLDER = """
import sys, time
from tuco_eval.store import units as store
from tuco_eval.store import run_json
with store.unit_lock(sys.argv[1], 1.0, "a"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_refuses_while_another_process_holds_it_and_frees_on_kill(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"pid {holder.pid}"):
            with store.unit_lock(tmp_path, 1.0, "a"):
                pass
    finally:
        holder.kill()  # SIGKILL: the kernel drops the flock
        holder.wait()
    with store.unit_lock(tmp_path, 1.0, "a"):
        pass


def test_run_info_merges_two_shards(tmp_path):
    base = {"model_args": "pretrained=org/ft-7b,base=org/pt-7b", "lm_eval_version": "0.4.13"}
    run_json.update_run_info(
        tmp_path,
        {
            **base,
            "alphas": [0.9, 1.0],
            "tasks": ["t1"],
            "groups": {"g": ["t1"]},
            "task_configs": {"t1": {"num_fewshot": 0}},
            "metadata": {"host": "a"},
        },
    )
    merged = run_json.update_run_info(
        tmp_path,
        {
            **base,
            "alphas": [1.0, 1.25],
            "tasks": ["t2"],
            "groups": {"g": ["t2"], "h": ["t2"]},
            "task_configs": {"t2": {"num_fewshot": 5}},
            "metadata": {"shard": 2},
        },
    )
    assert merged == run_json.read_run_info(tmp_path)
    assert merged.alphas == [0.9, 1.0, 1.25]
    assert merged.tasks == ["t1", "t2"]
    assert merged.groups == {"g": ["t1", "t2"], "h": ["t2"]}
    assert set(merged.task_configs) == {"t1", "t2"}
    assert merged.metadata == {"host": "a", "shard": 2}
    assert merged.label == "org/ft-7b"  # default label: the `pretrained` value


def test_run_info_refuses_other_model_args(tmp_path):
    run_json.update_run_info(tmp_path, {"model_args": "pretrained=a"})
    with pytest.raises(StoreError, match=r"'pretrained=a'.*'pretrained=b'"):
        run_json.update_run_info(tmp_path, {"model_args": "pretrained=b"})


def test_read_run_info_missing(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        run_json.read_run_info(tmp_path / "nope")
    with pytest.raises(StoreError, match="run.json is missing"):
        run_json.read_run_info(tmp_path)


def test_score_matrix_sorted_by_doc_id(tmp_path):
    for alpha in (1.0, 0.9, 1.1):
        recs = records(6, acc_of=lambda i, a=alpha: a * 10 + i)
        store.write_unit(tmp_path, alpha, "t", list(reversed(recs)))
    m = store.score_matrix(tmp_path, "t")
    assert m.alphas.tolist() == [0.9, 1.0, 1.1]
    assert m.doc_ids.tolist() == list(range(6))
    assert m.scores.shape == (3, 6)
    np.testing.assert_allclose(m.scores[2], [11.0 + i for i in range(6)])
    np.testing.assert_allclose(store.score_matrix(tmp_path, "t", "acc_norm").scores, 1 - m.scores)


def test_score_matrix_refuses_different_doc_sets(tmp_path):
    store.write_unit(tmp_path, 1.0, "t", records(5))
    store.write_unit(tmp_path, 1.1, "t", records(4))
    with pytest.raises(StoreError, match=r"task t: alpha=1.0 and alpha=1.1 .*doc_id 4"):
        store.score_matrix(tmp_path, "t")


def test_score_matrix_refuses_different_doc_hash(tmp_path):
    store.write_unit(tmp_path, 1.0, "t", records(5))
    store.write_unit(tmp_path, 1.1, "t", records(5, hash_of=lambda i: "z" if i == 3 else f"h{i}"))
    with pytest.raises(StoreError, match="doc_id 3"):
        store.score_matrix(tmp_path, "t")


def test_score_matrix_refuses_duplicates_and_missing_metric(tmp_path):
    store.write_unit(tmp_path, 1.0, "t", records(3) + records(1))
    with pytest.raises(StoreError, match="doc_id 0 appears twice"):
        store.score_matrix(tmp_path, "t")
    store.write_unit(tmp_path, 1.0, "u", records(3))
    with pytest.raises(StoreError, match=r"no finite 'f1'.*\['acc', 'acc_norm'\]"):
        store.score_matrix(tmp_path, "u", metric="f1")


def test_score_matrix_needs_every_requested_alpha(tmp_path):
    store.write_unit(tmp_path, 1.0, "t", records(3))
    with pytest.raises(StoreError, match=r"alpha=1.25.*incomplete"):
        store.score_matrix(tmp_path, "t", alphas=[1.0, 1.25])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), n=st.integers(min_value=0, max_value=5))
def test_reader_fuzz_parses_or_raises_store_error(data, n):
    with tempfile.TemporaryDirectory() as tmp:
        path = store.write_unit(tmp, 1.0, "t", [])
        path.write_bytes(data)
        manifest = {"n": n, "sha256": hashlib.sha256(data).hexdigest()}
        (path.parent / "t.done.json").write_text(json.dumps(manifest))
        try:
            recs = store.read_unit(tmp, 1.0, "t")
            store.score_matrix(tmp, "t")
        except StoreError:
            return
        assert len(recs) == n and all(isinstance(r["doc_id"], int) for r in recs)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"doc_id": st.integers(-3, 3), "doc_hash": st.text(max_size=3), "acc": st.floats()}
            ),
            st.dictionaries(st.text(max_size=3), st.integers() | st.none(), max_size=2),
            st.lists(st.integers(), max_size=2),
        ),
        max_size=6,
    )
)
def test_reader_fuzz_json_lines(lines):
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = store.write_unit(tmp, 1.0, "t", [])
        path.write_bytes(data)
        manifest = {"n": len(lines), "sha256": hashlib.sha256(data).hexdigest()}
        (path.parent / "t.done.json").write_text(json.dumps(manifest))
        try:
            matrix = store.score_matrix(tmp, "t")
        except StoreError:
            return
    # parsed: exactly the lines' docs, once each, ascending, with finite scores
    assert matrix.doc_ids.tolist() == sorted(x["doc_id"] for x in lines)
    assert matrix.scores.shape == (1, len(lines)) and np.isfinite(matrix.scores).all()
    assert matrix.scores[0].tolist() == [x["acc"] for x in sorted(lines, key=lambda x: x["doc_id"])]


_SHARD = """
import sys
from tuco_eval.store import units as store
from tuco_eval.store import run_json
run_dir, shard = sys.argv[1], int(sys.argv[2])
for i in range(25):
    run_json.update_run_info(run_dir, {"model_args": "pretrained=m", "alphas": [shard + i / 100], "tasks": [f"t{shard}_{i}"]})
"""


def test_concurrent_shards_lose_no_update(tmp_path):
    env = {"PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _SHARD, str(tmp_path), str(s)], cwd=REPO, env=env)
        for s in (1, 2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    info = run_json.read_run_info(tmp_path)
    assert len(info.alphas) == 50 and len(info.tasks) == 50
