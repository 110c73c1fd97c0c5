"""The label rules of a checkpoint series (tuco_eval.util.checkpoint_labels), case by hand-written case."""

from __future__ import annotations

import pytest

from tuco_eval.util.checkpoint_labels import (
    auto_label,
    check_labels,
    disambiguate,
    folder_name,
    folder_names,
    natural_key,
    parse_step,
    split_revision,
    step_of,
    training_order,
)
from tuco_eval.util.errors import TucoError


@pytest.mark.parametrize(("name", "step"), [
    ("checkpoint-1200", 1200), ("runs/sft/checkpoint-1200", 1200), ("runs/sft/checkpoint-1200/", 1200),
    ("step-1200", 1200), ("step1200", 1200), ("global_step1200", 1200), ("Checkpoint-8", 8),
    ("step_30", 30), ("checkpoint-0", 0),
    ("checkpoint-12a", None), ("my-checkpoint-3", None), ("checkpoint-", None), ("model-v1.0", None),
    ("steps-3", None), ("runs/checkpoint-5/final", None), ("", None), (None, None),
])
def test_parse_step(name, step):
    assert parse_step(name) == step


@pytest.mark.parametrize(("spec", "split"), [
    ("org/name@v1.0", ("org/name", "v1.0")), ("org/name", ("org/name", None)),
    ("EleutherAI/pythia-70m@step1000", ("EleutherAI/pythia-70m", "step1000")),
    ("name@", ("name@", None)), ("@rev", ("@rev", None)),
    ("a@b/c", ("a@b/c", None)),  # an @ inside a path, not a revision
    ("org/name@a@b", ("org/name@a", "b")),
])
def test_split_revision(spec, split):
    assert split_revision(spec) == split


@pytest.mark.parametrize(("source", "revision", "label", "step"), [
    ("runs/sft/checkpoint-1200", None, "step-1200", 1200),
    ("global_step30", None, "step-30", 30),
    ("org/Qwen2.5-0.5B-sft", None, "Qwen2.5-0.5B-sft", None),
    ("org/Qwen2.5-0.5B-sft", "v2", "Qwen2.5-0.5B-sft@v2", None),
    ("EleutherAI/pythia-70m", "step1000", "pythia-70m@step1000", 1000),  # the step from the revision
    ("adapters/persona lora/", None, "persona lora", None),
])
def test_auto_label_and_step(source, revision, label, step):
    assert auto_label(source, revision) == label
    assert step_of(source, revision) == step


def test_clashing_labels_gain_parent_folders_only_as_far_as_needed():
    sources = ["runs/sft/checkpoint-8", "runs/dpo/checkpoint-8", "runs/sft/checkpoint-16",
               "a/x/final", "b/x/final", "models/base"]
    labels = [auto_label(s) for s in sources]
    assert labels == ["step-8", "step-8", "step-16", "final", "final", "base"]
    assert disambiguate(labels, sources) == [
        "sft/step-8", "dpo/step-8", "step-16", "a/x/final", "b/x/final", "models/base"]


def test_identical_sources_stay_equal_and_are_refused():
    sources = ["runs/checkpoint-8", "runs/checkpoint-8"]
    labels = disambiguate([auto_label(s) for s in sources], sources)
    assert labels == ["runs/step-8", "runs/step-8"]
    with pytest.raises(TucoError, match="runs/checkpoint-8 is given twice"):
        check_labels(labels, sources)


@pytest.mark.parametrize(("labels", "message"), [
    (["a", "a"], "two checkpoints have the label 'a' \\(x and y\\); set distinct labels with --labels"),
    (["base", "b"], "the label 'base' names the base model's row"),
    (["a", " "], "the checkpoint y has an empty label"),
])
def test_bad_labels(labels, message):
    with pytest.raises(TucoError, match=message):
        check_labels(labels, ["x", "y"])


def test_labels_that_differ_only_in_case_are_labels_apart():
    check_labels(["Model", "model"], ["x", "y"])  # two rows; their folders differ below


@pytest.mark.parametrize(("label", "folder"), [
    ("step-1200", "step-1200"), ("model-v1.0", "model-v1.0"), ("sft/step-8", "sft-step-8"),
    ("persona lora", "persona-lora"), ("Qwen2.5-0.5B@v2", "Qwen2.5-0.5B@v2"), ("..", "checkpoint"),
    (".hidden", "hidden"), ("a\\b:c*d?e", "a-b-c-d-e"), ("ünïcode name", "n-code-name"),
    ("x" * 200, "x" * 80),
])
def test_folder_name(label, folder):
    assert folder_name(label) == folder


def test_folder_names_are_unique_whatever_the_labels_hold():
    labels = ["model-v1.0", "model-v1.5", "Model", "model", "sft/step-8", "sft step-8", "base",
              "checkpoints.json", "Base"]
    names = folder_names(labels, taken=["model-v1.0"])
    assert names == ["model-v1.0-2", "model-v1.5", "Model", "model-2", "sft-step-8", "sft-step-8-2",
                     "base-2", "checkpoints.json-2", "Base-3"]
    assert len({n.lower() for n in names}) == len(names)


def test_training_order_and_natural_order():
    items = ["checkpoint-16", "checkpoint-8", "checkpoint-24"]
    assert training_order(items, [16, 8, 24]) == ["checkpoint-8", "checkpoint-16", "checkpoint-24"]
    assert training_order(["b", "a"], [3, None]) == ["b", "a"]  # one step unknown: as given
    assert training_order(["x", "y"], [5, 5]) == ["x", "y"]  # equal steps keep their order
    assert sorted(["ckpt-10", "ckpt-9", "ckpt-100"], key=natural_key) == ["ckpt-9", "ckpt-10", "ckpt-100"]
