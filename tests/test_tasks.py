"""The tuco_behavior and tuco_mmlu lm-eval tasks: names, groups, doc counts, prompts, sources."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import lm_eval
import pytest
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml

from tests.helpers.paper_tasks import ALL_PERSONA_TASKS, BEHAVIOR_GROUPS, MMLU_GROUPS
from tuco_eval.harness import task_datasets
from tuco_eval.harness.task_data import DATA_DIR_ENV, MMLU_HELD_OUT_FEWSHOT, tasks_dir
from tuco_eval.util.errors import TucoError

EXPECTED = Path(__file__).parent / "expected"
UPDATE_EXPECTED = os.environ.get("TUCO_UPDATE_EXPECTED") == "1"  # rewrite tests/expected/*.txt
LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"
MMLU_ROWS = 14_042
MMLU_SUBJECTS = 57


@pytest.fixture(scope="module")
def manager(shared_data) -> TaskManager:
    return TaskManager(
        include_path=str(tasks_dir()),
        include_defaults=False,
        metadata={"data_dir": str(shared_data)},
    )


@pytest.fixture(scope="module")
def loaded(manager):
    # the category groups load inside these two: lm-eval refuses a task twice in one load
    return manager.load(["tuco_behavior", "tuco_mmlu"])


def _leaf_names(group) -> set[str]:
    return {task.config.task for task in group.get_all_tasks()}


def _lm_eval_category(group: str) -> set[str]:
    """lm-eval's own mmlu subjects of a category (its YAML tags), as tuco_mmlu_<subject> names."""
    category = group.removeprefix("tuco_")
    return {
        "tuco_" + path.stem
        for path in (LM_EVAL_TASKS / "mmlu" / "default").glob("mmlu_*.yaml")
        if load_yaml(path, resolve_func=False)["tag"] == f"{category}_tasks"
    }


@pytest.fixture(scope="module")
def mmlu_rows_per_subject(shared_data) -> dict[str, int]:
    """Rows of the offline MMLU copy per subject, counted here."""
    counts: dict[str, int] = {}
    with (shared_data / "mmlu" / "mmlu_test.jsonl").open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            counts[row["subject"]] = counts.get(row["subject"], 0) + 1
    return counts


@pytest.mark.parametrize("group", [*BEHAVIOR_GROUPS, *MMLU_GROUPS])
def test_each_category_group_loads_on_its_own(manager, mmlu_rows_per_subject, group):
    loaded = manager.load([group])
    members = _leaf_names(loaded["groups"][group])
    if group in BEHAVIOR_GROUPS:
        assert members == {f"tuco_persona_{name}" for name in BEHAVIOR_GROUPS[group]}
        expected = dict.fromkeys(members, 1000)
    else:
        assert members == _lm_eval_category(group)
        expected = {m: mmlu_rows_per_subject[m.removeprefix("tuco_mmlu_")] - MMLU_HELD_OUT_FEWSHOT
                    for m in members}
    assert {name: len(loaded["tasks"][name].eval_docs) for name in members} == expected


def test_behavior_groups_hold_the_papers_23_datasets(loaded):
    groups = loaded["groups"]
    for group, names in BEHAVIOR_GROUPS.items():
        assert _leaf_names(groups[group]) == {f"tuco_persona_{n}" for n in names}
    assert len(ALL_PERSONA_TASKS) == 23
    assert loaded["group_map"]["tuco_behavior"] == list(BEHAVIOR_GROUPS)
    assert _leaf_names(groups["tuco_behavior"]) == ALL_PERSONA_TASKS
    for group in ["tuco_behavior", *BEHAVIOR_GROUPS]:
        [aggregate] = groups[group].aggregate_metric_list
        assert (aggregate.metric, aggregate.weight_by_size) == ("acc", False)


def test_persona_tasks_have_all_1000_docs(loaded):
    for name in ALL_PERSONA_TASKS:
        assert len(loaded["tasks"][name].eval_docs) == 1000, name


def test_mmlu_groups_follow_lm_evals_subject_categories(loaded):
    for group in MMLU_GROUPS:
        assert _leaf_names(loaded["groups"][group]) == _lm_eval_category(group), group
    assert set(loaded["group_map"]["tuco_mmlu"]) == set(MMLU_GROUPS)
    assert len(_leaf_names(loaded["groups"]["tuco_mmlu"])) == MMLU_SUBJECTS


def test_offline_mmlu_holds_out_the_first_5_rows_per_subject(loaded, shared_data):
    by_subject: dict[str, list[dict]] = {}
    with (shared_data / "mmlu" / "mmlu_test.jsonl").open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            by_subject.setdefault(row["subject"], []).append(row)
    mmlu = {name: task for name, task in loaded["tasks"].items() if name.startswith("tuco_mmlu_")}
    assert len(mmlu) == MMLU_SUBJECTS
    assert sum(len(task.eval_docs) for task in mmlu.values()) == MMLU_ROWS - MMLU_SUBJECTS * 5
    for name, task in mmlu.items():
        rows = by_subject[name.removeprefix("tuco_mmlu_")]
        # by position, not by text: MMLU repeats some questions within a subject
        assert list(task.fewshot_docs()) == rows[:MMLU_HELD_OUT_FEWSHOT]
        assert list(task.eval_docs) == rows[MMLU_HELD_OUT_FEWSHOT:]
        assert task.config.num_fewshot == 5
        assert "first 5 test rows" in task.config.metadata["fewshot_source"]


def _prompt_keys(path: Path, keys: list[str]) -> dict:
    config = load_yaml(path, resolve_func=False)
    return {key: config.get(key) for key in keys}


def test_templates_keep_lm_evals_prompts():
    persona_keys = ["output_type", "validation_split", "target_delimiter", "doc_to_text"]
    persona_keys += ["doc_to_target", "doc_to_choice"]
    assert _prompt_keys(tasks_dir() / "tuco_behavior/_persona_template_yaml", persona_keys) == (
        _prompt_keys(LM_EVAL_TASKS / "model_written_evals/persona/_template_yaml", persona_keys)
    )
    mmlu_keys = ["test_split", "fewshot_split", "fewshot_config", "output_type", "doc_to_text"]
    mmlu_keys += ["doc_to_choice", "doc_to_target"]
    assert _prompt_keys(tasks_dir() / "tuco_mmlu/_default_template_yaml", mmlu_keys) == (
        _prompt_keys(LM_EVAL_TASKS / "mmlu/default/_default_template_yaml", mmlu_keys)
    )
    for ours in (tasks_dir() / "tuco_mmlu").glob("tuco_mmlu_*.yaml"):
        theirs = LM_EVAL_TASKS / "mmlu/default" / ours.name.removeprefix("tuco_")
        assert _prompt_keys(ours, ["description"]) == _prompt_keys(theirs, ["description"])


def test_checked_in_yaml_is_what_the_generator_renders():
    spec = importlib.util.spec_from_file_location("gen", tasks_dir() / "_generate_configs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rendered = generator.all_files()
    generated = ("tuco_behavior", "tuco_mmlu")  # tuco_demo is written by hand
    on_disk = {str(p.relative_to(tasks_dir())) for d in generated for p in (tasks_dir() / d).glob("*.yaml")}
    assert on_disk == set(rendered)
    for relative, text in rendered.items():
        assert (tasks_dir() / relative).read_text(encoding="utf-8") == text, relative


# --- rendered prompts of fixed docs, with and without a chat template -----------------------

RENDER_CASES = {  # expected file -> (task, chat template?, system instruction)
    "persona_buddhism_plain": ("tuco_persona_subscribes-to-Buddhism", False, None),
    "persona_liberal_plain": ("tuco_persona_politically-liberal", False, None),
    "persona_buddhism_chat_system": (
        "tuco_persona_subscribes-to-Buddhism",
        True,
        "You are a helpful assistant.",
    ),
    "mmlu_abstract_algebra_5shot": ("tuco_mmlu_abstract_algebra", False, None),
    "mmlu_abstract_algebra_5shot_chat": ("tuco_mmlu_abstract_algebra", True, None),
}


def _render_first_doc(task, chat_lm, system_instruction: str | None) -> str:
    """The context and continuations lm-eval scores for the task's first doc."""
    task.build_all_requests(
        limit=1,
        system_instruction=system_instruction,
        apply_chat_template=chat_lm is not None,
        fewshot_as_multiturn=chat_lm is not None,  # simple_evaluate's default with chat
        chat_template=chat_lm.apply_chat_template if chat_lm else None,
    )
    [context] = {instance.arguments[0] for instance in task.instances}
    continuations = [instance.arguments[1] for instance in task.instances]
    return f"{context}\n=== continuations ===\n{json.dumps(continuations)}\n"


@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_rendered_prompt_matches_expected(case, loaded, tiny_hf_lm):
    task_name, with_chat, system_instruction = RENDER_CASES[case]
    rendered = _render_first_doc(
        loaded["tasks"][task_name], tiny_hf_lm if with_chat else None, system_instruction
    )
    if UPDATE_EXPECTED:  # review the diff: test_expected_files_are_the_papers_prompts rechecks them
        (EXPECTED / f"{case}.txt").write_text(rendered, encoding="utf-8")
    assert rendered == expected_text(case)


def expected_text(case: str) -> str:
    """tests/expected/<case>.txt; a missing file fails, never silently written by the code under test."""
    path = EXPECTED / f"{case}.txt"
    if not path.is_file():
        pytest.fail(f"{path} is missing: restore it from git (or TUCO_UPDATE_EXPECTED=1 writes it from "
                    "the code under test; then check it as test_expected_files_are_the_papers_prompts does)")
    return path.read_text(encoding="utf-8")


# How the golden files were checked (once, by hand, and below on every run): each is rebuilt here
# from the raw rows of shared/data with the prompt formats written out, not through lm-eval's task
# code. MMLU (Hendrycks et al.; lm-eval's mmlu/default template, the paper's 5-shot setting): the
# description "The following are multiple choice questions (with answers) about <subject>.", a
# blank line, then "<question>\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer: <letter>" per shot, blank-line
# separated, the shots being the subject's first 5 test rows (held out); choices " A".." D".
# Persona (Perez et al.; lm-eval's model_written_evals/persona): the row's question, which begins
# "Is the following statement something you would say?\n", as is; choices the row's
# answer_matching_behavior then answer_not_matching_behavior (" Yes"/" No", leading space).
# With a chat template (lm-eval's fewshot_as_multiturn): the description is the system turn,
# each shot a user turn and an assistant turn holding the bare letter; the continuations lose
# their leading space (lm-eval drops the target delimiter after the generation prompt).
MMLU_DESCRIPTION = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"


def _mmlu_question(row: dict) -> str:
    return row["question"].strip() + "".join(f"\n{letter}. {c}" for letter, c in zip("ABCD", row["choices"], strict=True)) + "\nAnswer:"


def _golden(context: str, continuations: list[str]) -> str:
    return f"{context}\n=== continuations ===\n{json.dumps(continuations)}\n"


def test_expected_files_are_the_papers_prompts(shared_data, tiny_hf_lm):
    read = task_datasets.data.read_jsonl
    chat = tiny_hf_lm.tokenizer.apply_chat_template  # the test tokenizer's template, not lm-eval's
    persona = {n: read(shared_data / f"model-written-evals/persona/{n}.jsonl")[0]
               for n in ("subscribes-to-Buddhism", "politically-liberal")}
    rows = [r for r in read(shared_data / "mmlu/mmlu_test.jsonl") if r["subject"] == "abstract_algebra"]
    shots, doc = rows[:MMLU_HELD_OUT_FEWSHOT], rows[MMLU_HELD_OUT_FEWSHOT]
    assert MMLU_HELD_OUT_FEWSHOT == 5
    turns = [[{"role": "user", "content": _mmlu_question(r)},
              {"role": "assistant", "content": "ABCD"[r["answer"]]}] for r in shots]
    messages = [{"role": "system", "content": MMLU_DESCRIPTION}, *sum(turns, []),
                {"role": "user", "content": _mmlu_question(doc)}]
    buddhism = persona["subscribes-to-Buddhism"]
    yes_no = [buddhism["answer_matching_behavior"], buddhism["answer_not_matching_behavior"]]
    assert buddhism["question"].startswith("Is the following statement something you would say?\n")
    want = {
        "persona_buddhism_plain": _golden(buddhism["question"], yes_no),
        "persona_liberal_plain": _golden(persona["politically-liberal"]["question"], [
            persona["politically-liberal"]["answer_matching_behavior"],
            persona["politically-liberal"]["answer_not_matching_behavior"]]),
        "persona_buddhism_chat_system": _golden(chat(
            [{"role": "system", "content": "You are a helpful assistant."},
             {"role": "user", "content": buddhism["question"]}],
            tokenize=False, add_generation_prompt=True), yes_no),
        "mmlu_abstract_algebra_5shot": _golden(MMLU_DESCRIPTION + "\n\n".join(
            [f"{_mmlu_question(r)} {'ABCD'[r['answer']]}" for r in shots] + [_mmlu_question(doc)]),
            [" A", " B", " C", " D"]),
        "mmlu_abstract_algebra_5shot_chat": _golden(
            chat(messages, tokenize=False, add_generation_prompt=True), list("ABCD")),
    }
    assert yes_no == [" Yes", " No"] and want.keys() == RENDER_CASES.keys()
    for case, text in want.items():
        assert expected_text(case) == text, case


# --- the Hub route, without the Hub ---------------------------------------------------------


def test_without_switch_the_hub_sources_are_used(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    calls = []
    monkeypatch.setattr(task_datasets, "load_dataset", lambda *args: calls.append(args))
    task_datasets.persona("narcissism", version=1.0)
    task_datasets.mmlu("anatomy", version=1.0)
    assert calls == [("EleutherAI/persona", "narcissism"), ("cais/mmlu", "anatomy")]


def test_hub_route_renders_the_same_prompts_from_the_hubs_own_splits(monkeypatch, shared_data):
    """The Hub datasets' split names and columns, served from the shared rows, through lm-eval."""
    from datasets import Dataset, DatasetDict

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    persona_rows = task_datasets.data.read_jsonl(
        shared_data / "model-written-evals/persona/subscribes-to-Buddhism.jsonl")
    mmlu_rows = [row for row in task_datasets.data.read_jsonl(shared_data / "mmlu/mmlu_test.jsonl")
                 if row["subject"] == "abstract_algebra"]
    hub = {  # EleutherAI/persona: one config per dataset, split validation; cais/mmlu: test/dev
        ("EleutherAI/persona", "subscribes-to-Buddhism"): {"validation": persona_rows},
        ("cais/mmlu", "abstract_algebra"): {"test": mmlu_rows[MMLU_HELD_OUT_FEWSHOT:],
                                            "validation": mmlu_rows[:3],
                                            "dev": mmlu_rows[:MMLU_HELD_OUT_FEWSHOT]},
    }
    monkeypatch.setattr(task_datasets, "load_dataset", lambda path, name: DatasetDict(
        {split: Dataset.from_list(rows) for split, rows in hub[(path, name)].items()}))
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False)
    tasks = manager.load(["tuco_persona_subscribes-to-Buddhism", "tuco_mmlu_abstract_algebra"])["tasks"]
    assert len(tasks["tuco_persona_subscribes-to-Buddhism"].eval_docs) == 1000
    assert len(tasks["tuco_mmlu_abstract_algebra"].eval_docs) == len(mmlu_rows) - MMLU_HELD_OUT_FEWSHOT
    for case in ("persona_buddhism_plain", "mmlu_abstract_algebra_5shot"):
        task_name, _, _ = RENDER_CASES[case]
        rendered = _render_first_doc(tasks[task_name], None, None)
        assert rendered == expected_text(case), case


def test_unreachable_hub_says_how_to_use_local_data(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)

    def offline(*args):
        raise ConnectionError("Couldn't reach 'cais/mmlu' on the Hub\nmore detail")

    monkeypatch.setattr(task_datasets, "load_dataset", offline)
    with pytest.raises(
        TucoError, match=rf"cais/mmlu \(anatomy\) .*reach.*; set {DATA_DIR_ENV}"
    ) as caught:
        task_datasets.mmlu("anatomy")
    assert "\n" not in str(caught.value)


def test_missing_local_file_error_reaches_lm_eval_users(tmp_path):
    manager = TaskManager(
        include_path=str(tasks_dir()), include_defaults=False, metadata={"data_dir": str(tmp_path)}
    )
    with pytest.raises(TucoError, match=r"narcissism.jsonl: no such file .*--metadata data_dir"):
        manager.load(["tuco_persona_narcissism"])
