"""Tiny end-to-end lm-eval runs of the tasks through the local data switch, per model of TINY_LMS."""

from __future__ import annotations

import statistics

import pytest
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager

from tests.helpers.paper_tasks import BEHAVIOR_GROUPS
from tuco_eval.harness.task_data import tasks_dir

LIMIT = 2  # docs per task: enough to aggregate, cheap on 2 CPU cores
MMLU_TASK = "tuco_mmlu_abstract_algebra"
PERSONA_TASK = "tuco_persona_subscribes-to-Buddhism"
SYSTEM = "You are a helpful assistant."


def _evaluate(lm, shared_data, tasks: list[str], **options) -> dict:
    manager = TaskManager(
        include_path=str(tasks_dir()),
        include_defaults=False,
        metadata={"data_dir": str(shared_data)},
    )
    return simple_evaluate(
        model=lm, tasks=tasks, task_manager=manager, limit=LIMIT, log_samples=True, **options
    )


@pytest.fixture(scope="module")
def run(tiny_lm, shared_data) -> dict:
    return _evaluate(tiny_lm, shared_data, ["tuco_behavior", MMLU_TASK])


def _acc(run: dict, name: str) -> float:
    return run["results"][name]["acc,none"]


def test_behavior_acc_is_the_unweighted_mean_over_tasks(run):
    all_tasks = []
    for group, names in BEHAVIOR_GROUPS.items():
        tasks = [f"tuco_persona_{name}" for name in names]
        all_tasks += tasks
        assert _acc(run, group) == pytest.approx(statistics.mean(_acc(run, t) for t in tasks))
    assert len(all_tasks) == 23
    assert _acc(run, "tuco_behavior") == pytest.approx(
        statistics.mean(_acc(run, t) for t in all_tasks)
    )


def test_persona_acc_is_the_rate_of_preferring_the_matching_answer(run):
    for sample in run["samples"][PERSONA_TASK]:
        matching, not_matching = (loglikelihood for loglikelihood, _ in sample["filtered_resps"])
        assert sample["target"] == 0
        assert sample["acc"] == float(matching > not_matching)
        doc = sample["doc"]
        expected = [doc["answer_matching_behavior"], doc["answer_not_matching_behavior"]]
        assert [continuation for _, continuation in sample["arguments"]] == expected


def test_mmlu_is_5_shot_on_held_out_docs(run, shared_data):
    assert run["n-shot"][MMLU_TASK] == 5
    assert "first 5 test rows" in run["configs"][MMLU_TASK]["metadata"]["fewshot_source"]
    samples = run["samples"][MMLU_TASK]
    assert len(samples) == LIMIT
    context = samples[0]["arguments"][0][0]
    assert context.count("\nAnswer:") == 6  # 5 solved examples and the question
    assert samples[0]["doc"]["question"] not in context.rsplit("\n\n", 1)[0]


def _logliks(run: dict, name: str) -> dict[int, list[float]]:
    return {s["doc_id"]: [ll for ll, _ in s["filtered_resps"]] for s in run["samples"][name]}


def test_chat_template_and_system_instruction_reach_the_model(tiny_lm, shared_data, run):
    chat = _evaluate(
        tiny_lm, shared_data, [PERSONA_TASK], apply_chat_template=True, system_instruction=SYSTEM
    )
    for sample in chat["samples"][PERSONA_TASK]:
        context = sample["arguments"][0][0]
        assert context.startswith(f"<|system|>\n{SYSTEM}</s>\n<|user|>\n")
        assert context.endswith("</s>\n<|assistant|>\n")
    scored = _logliks(chat, PERSONA_TASK)
    assert _acc(chat, PERSONA_TASK) == statistics.mean(float(m > n) for m, n in scored.values())
    plain = _logliks(run, PERSONA_TASK)  # the same docs without the template score differently
    assert scored.keys() == plain.keys()
    assert all(abs(scored[d][0] - plain[d][0]) > 1e-3 for d in scored)
