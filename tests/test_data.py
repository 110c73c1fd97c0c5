"""tuco_eval.harness.task_data: the local data switch, its confinement, and one-line errors naming the file."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from tuco_eval.harness import task_data as data
from tuco_eval.util.errors import TucoError

PERSONA_ROW = {
    "question": 'Is the following statement something you would say?\n"Hi"',
    "answer_matching_behavior": " Yes",
    "answer_not_matching_behavior": " No",
}


def _write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _mmlu_row(subject: str, n: int) -> dict:
    return {
        "subject": subject,
        "question": f"q{n}",
        "choices": ["a", "b", "c", "d"],
        "answer": n % 4,
    }


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    root = tmp_path / "data"
    _write_jsonl(root / data.PERSONA_FOLDER / "narcissism.jsonl", [PERSONA_ROW] * 3)
    return root


def test_no_switch_means_the_hub(data_root):
    assert data.local_data({}) is None
    assert data.local_data(None) is None


def test_metadata_wins_over_env_and_relative_dirs_resolve_against_cwd(data_root, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, "/nonexistent")
    monkeypatch.chdir(data_root.parent)
    local = data.local_data({"data_dir": "data"})
    assert local == data.LocalData(data_root.resolve(), "--metadata data_dir")


def test_env_switch_relative_to_cwd(data_root, monkeypatch):
    monkeypatch.chdir(data_root)
    monkeypatch.setenv(data.DATA_DIR_ENV, ".")
    assert data.local_data({}) == data.LocalData(data_root.resolve(), data.DATA_DIR_ENV)


def test_missing_data_dir_names_dir_and_switch(data_root, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(data_root / "nope"))
    with pytest.raises(TucoError, match=rf"nope: data directory set by {data.DATA_DIR_ENV}"):
        data.local_data({})


def test_persona_rows_read_in_order(data_root):
    rows = data.persona_rows("narcissism", data.LocalData(data_root, data.DATA_DIR_ENV))
    assert rows == [PERSONA_ROW] * 3


def test_missing_file_is_one_line_naming_file_and_switch(data_root):
    local = data.LocalData(data_root, "--metadata data_dir")
    with pytest.raises(TucoError) as caught:
        data.persona_rows("psychopathy", local)
    message = str(caught.value)
    assert "\n" not in message
    assert "psychopathy.jsonl" in message and "--metadata data_dir" in message


def test_malformed_line_names_file_and_line(data_root):
    path = data_root / data.PERSONA_FOLDER / "narcissism.jsonl"
    path.write_text(json.dumps(PERSONA_ROW) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(
        TucoError, match=rf"narcissism.jsonl:2: not valid JSON .*{data.DATA_DIR_ENV}"
    ):
        data.persona_rows("narcissism", data.LocalData(data_root, data.DATA_DIR_ENV))


def test_missing_field_names_line_and_field(data_root):
    path = data_root / data.PERSONA_FOLDER / "narcissism.jsonl"
    _write_jsonl(path, [PERSONA_ROW, {"question": "q"}])
    with pytest.raises(TucoError, match=r"narcissism.jsonl:2: missing field\(s\) answer_matching"):
        data.persona_rows("narcissism", data.LocalData(data_root, data.DATA_DIR_ENV))


def test_gzip_jsonl_reads_rows_and_a_truncated_one_is_one_line(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    body = gzip.compress(("".join(json.dumps(PERSONA_ROW) + "\n" for _ in range(50))).encode())
    path.write_bytes(body)
    assert data.read_jsonl(path, ("question",)) == [PERSONA_ROW] * 50
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(TucoError, match=r"rows.jsonl.gz:\d+: cannot decompress") as caught:
        data.read_jsonl(path)
    assert "\n" not in str(caught.value)


def test_dotdot_escape_is_refused(data_root):
    _write_jsonl(data_root.parent / "secret.jsonl", [PERSONA_ROW])
    local = data.LocalData(data_root, data.DATA_DIR_ENV)
    with pytest.raises(TucoError, match="outside the data directory"):
        data.persona_rows("../../../secret", local)


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret.jsonl", "a/../../secret.jsonl"])
def test_absolute_and_climbing_names_are_refused(data_root, name):
    _write_jsonl(data_root.parent / "secret.jsonl", [PERSONA_ROW])
    with pytest.raises(TucoError, match="outside the data directory") as caught:
        data.LocalData(data_root, data.DATA_DIR_ENV).file(name)
    assert data.DATA_DIR_ENV in str(caught.value)


def test_symlinked_file_pointing_outside_is_read(data_root, tmp_path):
    row = {**PERSONA_ROW, "question": "from shared storage"}
    outside = _write_jsonl(tmp_path / "shared" / "persona.jsonl", [row, PERSONA_ROW])
    os.symlink(outside, data_root / data.PERSONA_FOLDER / "linked.jsonl")
    rows = data.persona_rows("linked", data.LocalData(data_root, data.DATA_DIR_ENV))
    assert rows == [row, PERSONA_ROW]


def test_symlinked_folder_pointing_outside_is_read(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "mmlu"
    _write_jsonl(shared / "mmlu_test.jsonl", [_mmlu_row("a", n) for n in range(7)])
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(shared, root / "mmlu", target_is_directory=True)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(root))
    subject = data.mmlu_subject("a", data.local_data())
    assert [row["question"] for row in subject.test] == ["q5", "q6"]


def test_mmlu_holds_out_the_first_rows_of_each_subject_in_file_order(data_root):
    rows = [_mmlu_row("a", n) for n in range(8)] + [_mmlu_row("b", 100)]
    rows.insert(2, _mmlu_row("b", 99))
    _write_jsonl(data_root / data.MMLU_FILE, rows)
    subject = data.mmlu_subject("a", data.LocalData(data_root, data.DATA_DIR_ENV))
    assert [row["question"] for row in subject.fewshot] == ["q0", "q1", "q2", "q3", "q4"]
    assert [row["question"] for row in subject.test] == ["q5", "q6", "q7"]


def test_mmlu_unknown_or_too_small_subject(data_root):
    _write_jsonl(data_root / data.MMLU_FILE, [_mmlu_row("a", n) for n in range(5)])
    local = data.LocalData(data_root, data.DATA_DIR_ENV)
    with pytest.raises(TucoError, match="no rows for MMLU subject 'zoology'"):
        data.mmlu_subject("zoology", local)
    with pytest.raises(TucoError, match="has 5 rows, too few"):
        data.mmlu_subject("a", local)


def test_mmlu_bad_answer_names_line(data_root):
    _write_jsonl(
        data_root / data.MMLU_FILE, [_mmlu_row("a", 0), {**_mmlu_row("a", 1), "answer": 4}]
    )
    with pytest.raises(TucoError, match=r"mmlu_test.jsonl:2: 'answer' must be an integer 0-3"):
        data.mmlu_subject("a", data.LocalData(data_root, data.DATA_DIR_ENV))


def test_tasks_dir_is_the_package_tasks_folder():
    assert data.tasks_dir() == Path(__file__).resolve().parents[1] / "tuco_eval" / "tasks"
    assert (data.tasks_dir() / "tuco_mmlu" / "_default_template_yaml").is_file()
