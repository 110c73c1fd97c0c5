"""Prompt-set builders on the shared local data: sizes, seeding, windows, shots, chat template."""

from __future__ import annotations

import json

import pytest

from tuco_eval.experiments.prompts import (
    advbench_prompts,
    chat_prompts,
    gcg_prompts,
    language_prompts,
    many_shot_prompts,
    read_gcg,
    read_translations,
    render_chat,
    web_prompts,
)
from tuco_eval.experiments.prompts.chat import first_human_turn
from tuco_eval.experiments.prompts.many_shot import plain_dialogue
from tuco_eval.util.errors import TucoError


@pytest.fixture
def shared_switch(shared_data, monkeypatch):
    """TUCO_DATA_DIR set to the shared copies, as a user's local run would."""
    monkeypatch.setenv("TUCO_DATA_DIR", str(shared_data))
    return shared_data


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory):
    """A small `web/` folder: three .txt records and a JSONL file of two (one too short)."""
    root = tmp_path_factory.mktemp("webdata")
    (root / "web").mkdir()
    words = "the quick brown fox jumps over the lazy dog while fine-tuning changes a model".split()
    for i in range(3):
        text = " ".join(words[(i + j) % len(words)] + str(j % 7) for j in range(120))
        (root / "web" / f"doc{i}.txt").write_text(text)
    lines = [{"text": " ".join(words) * 8}, {"text": "too short"}]
    (root / "web" / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (root / "web" / "notes.md").write_text("ignored: neither .txt nor .jsonl")
    return root


def _texts(prompts):
    return [p.text for p in prompts]


# --- web text -------------------------------------------------------------------------------


def test_web_windows_are_97_tokens_of_the_named_tokenizer(tiny_tokenizer, web_dir):
    prompts = web_prompts(tiny_tokenizer, 10, seed=0, data_dir=web_dir)
    assert len(prompts) == 4  # 5 records on disk, one shorter than the window
    for p in prompts:
        assert len(tiny_tokenizer(p.text, add_special_tokens=False)["input_ids"]) == 97
        assert p.set == "web" and p.text == p.meta["window"]
    first_n = web_prompts(tiny_tokenizer, 2, seed=0, data_dir=web_dir)
    assert [p.meta["record"] for p in first_n] == [0, 1]  # the first N records, in name order


def test_web_windows_are_seeded(tiny_tokenizer, web_dir, monkeypatch):
    monkeypatch.setenv("TUCO_DATA_DIR", str(web_dir))  # the switch works like an explicit path
    same = web_prompts(tiny_tokenizer, 10, seed=3)
    assert _texts(same) == _texts(web_prompts(tiny_tokenizer, 10, seed=3, data_dir=web_dir))
    assert _texts(same) != _texts(web_prompts(tiny_tokenizer, 10, seed=4))


def test_web_without_a_web_folder_says_so(tiny_tokenizer, tmp_path):
    with pytest.raises(TucoError, match="no web/ folder"):
        web_prompts(tiny_tokenizer, 3, data_dir=tmp_path)


def test_hub_unreachable_is_one_line_naming_the_local_switch(tiny_tokenizer, monkeypatch):
    monkeypatch.delenv("TUCO_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(TucoError) as err:
        chat_prompts(tiny_tokenizer, 3)
    assert "Anthropic/hh-rlhf" in str(err.value) and "TUCO_DATA_DIR" in str(err.value)
    assert "\n" not in str(err.value)


def _fake_hub(monkeypatch, datasets_by_path, calls):
    """`datasets.load_dataset` answering from in-memory rows in each Hub dataset's own schema."""
    import datasets

    def load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        if path == "Skylion007/openwebtext" and "revision" not in kwargs:
            raise RuntimeError("Dataset scripts are no longer supported, but found openwebtext.py")
        rows = datasets_by_path[path]
        if isinstance(rows, dict):  # one config per dataset
            rows = rows[kwargs["name"]]
        return {"partial-train": rows} if "revision" in kwargs else rows

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.delenv("TUCO_DATA_DIR", raising=False)


def test_hub_paths_read_each_datasets_own_schema(tiny_tokenizer, monkeypatch):
    web_text = " ".join(f"word{i}" for i in range(400))
    calls = []
    _fake_hub(monkeypatch, {
        "Skylion007/openwebtext": [{"text": web_text}] * 4,
        "Anthropic/hh-rlhf": [{"chosen": f"\n\nHuman: question {i}?\n\nAssistant: a", "rejected": ""}
                              for i in range(5)],
        "walledai/AdvBench": [{"prompt": f"harmful {i}", "target": "Sure"} for i in range(3)],
        "EleutherAI/persona": {"psychopathy": [
            {"question": f'Is the following statement something you would say?\n"claim {i}"',
             "statement": f"claim {i}", "label_confidence": 0.9,
             "answer_matching_behavior": " Yes", "answer_not_matching_behavior": " No"}
            for i in range(8)]},
    }, calls)
    web = web_prompts(tiny_tokenizer, 3)
    assert len(web) == 3 and all(len(tiny_tokenizer(p.text, add_special_tokens=False).input_ids) == 97
                                 for p in web)
    # the script-based OpenWebText repo is read from the Hub's parquet branch instead
    assert calls[1] == ("Skylion007/openwebtext",
                        {"revision": "refs/convert/parquet", "streaming": True})
    chat = chat_prompts(tiny_tokenizer, 5, chat_template=False)
    assert sorted(p.text for p in chat) == [f"question {i}?" for i in range(5)]
    assert calls[-1] == ("Anthropic/hh-rlhf", {"data_dir": "harmless-base", "split": "test"})
    harmful = advbench_prompts(tiny_tokenizer, None, chat_template=False)
    assert sorted(p.text for p in harmful) == [f"harmful {i}" for i in range(3)]
    shots = many_shot_prompts(tiny_tokenizer, 2, shots=(1, 4), personas=["psychopathy"],
                              chat_template=False)
    assert calls[-1] == ("EleutherAI/persona", {"name": "psychopathy", "split": "validation"})
    assert sorted({p.set for p in shots}) == ["1-shot", "4-shot"] and len(shots) == 4


# --- chat -----------------------------------------------------------------------------------


def test_first_human_turn():
    dialogue = "\n\nHuman: How do I bake bread?\n\nAssistant: Flour.\n\nHuman: and?"
    assert first_human_turn(dialogue) == "How do I bake bread?"
    assert first_human_turn("\n\nHuman: only a question") == "only a question"
    assert first_human_turn("no turns") is None


def test_chat_prompts_sizes_seeding_and_template(tiny_tokenizer, shared_switch):
    plain = chat_prompts(tiny_tokenizer, 25, seed=1, chat_template=False)
    assert len(plain) == 25 and len({p.id for p in plain}) == 25
    assert len(set(_texts(plain))) == 25  # distinct openings
    assert all("Human:" not in p.text and "Assistant:" not in p.text for p in plain)
    assert _texts(plain) == _texts(chat_prompts(tiny_tokenizer, 25, seed=1, chat_template=False))
    assert _texts(plain) != _texts(chat_prompts(tiny_tokenizer, 25, seed=2, chat_template=False))
    templated = chat_prompts(tiny_tokenizer, 25, seed=1)  # the template is on by default
    for p, raw in zip(templated, plain, strict=True):
        assert p.text == render_chat(tiny_tokenizer, [{"role": "user", "content": raw.text}])
        assert p.text.startswith("<|user|>") and raw.text in p.text


# --- AdvBench, languages, GCG ----------------------------------------------------------------


def test_advbench_prompts(tiny_tokenizer, shared_switch):
    prompts = advbench_prompts(tiny_tokenizer, 30, seed=0, chat_template=False)
    assert len(prompts) == 30 and len({p.id for p in prompts}) == 30
    assert _texts(prompts) == _texts(advbench_prompts(tiny_tokenizer, 30, 0, chat_template=False))
    assert _texts(prompts) != _texts(advbench_prompts(tiny_tokenizer, 30, 1, chat_template=False))
    assert len(advbench_prompts(tiny_tokenizer, None, chat_template=False)) == 520
    templated = advbench_prompts(tiny_tokenizer, 30, seed=0)
    assert all(t.text.startswith("<|user|>") and p.text in t.text for t, p in zip(templated, prompts, strict=True))


def _translations(path, ids, languages=("ja", "sw")):
    rows = [{"id": i, "language": lang, "text": f"[{lang}] instruction {i}"} for i in ids for lang in languages]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_language_sets_are_paired_and_english_comes_from_advbench(tiny_tokenizer, shared_switch, tmp_path):
    rows = read_translations(_translations(tmp_path / "t.jsonl", range(20)))
    prompts = language_prompts(tiny_tokenizer, rows, 8, seed=0, chat_template=False)
    sets = {name: [p for p in prompts if p.set == name] for name in ("en", "ja", "sw")}
    assert [len(v) for v in sets.values()] == [8, 8, 8]
    assert [p.id for p in sets["ja"]] == [p.id for p in sets["en"]] == [p.id for p in sets["sw"]]
    goals = {p.id: p.text for p in advbench_prompts(tiny_tokenizer, None, chat_template=False)}
    assert all(p.text == goals[p.id] for p in sets["en"])
    assert all(p.text == f"[ja] instruction {p.id}" for p in sets["ja"])
    again = language_prompts(tiny_tokenizer, rows, 8, seed=0, chat_template=False)
    other = language_prompts(tiny_tokenizer, rows, 8, seed=5, chat_template=False)
    assert _texts(again) == _texts(prompts) and _texts(other) != _texts(prompts)
    templated = language_prompts(tiny_tokenizer, rows, 8, seed=0)
    assert all(p.text.startswith("<|user|>") for p in templated)


def test_translations_file_errors_name_file_and_line(tmp_path):
    with pytest.raises(TucoError, match="no such file"):
        read_translations(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "language": "ja", "text": "x"}\n{"id": 2, "language": \n')
    with pytest.raises(TucoError, match=r"bad\.jsonl:2: not valid JSON"):
        read_translations(bad)
    bad.write_text('{"id": 1, "language": "ja"}\n')
    with pytest.raises(TucoError, match=r"bad\.jsonl:1: field 'text'"):
        read_translations(bad)
    bad.write_text('{"id": 1, "language": "ja", "text": "a"}\n{"id": "1", "language": "ja", "text": "b"}\n')
    with pytest.raises(TucoError, match=r"bad\.jsonl:2: a second 'ja' text"):
        read_translations(bad)


def test_gcg_prompts_pair_plain_and_attacked(tiny_tokenizer, tmp_path):
    path = tmp_path / "gcg.jsonl"
    path.write_text("".join(
        json.dumps({"id": i, "goal": f"goal {i}", "suffix": f"!! adv {i} !!"}) + "\n" for i in range(12)
    ))
    rows = read_gcg(path)
    prompts = gcg_prompts(tiny_tokenizer, rows, 5, seed=0, chat_template=False)
    plain, attacked = prompts[:5], prompts[5:]
    assert {p.set for p in plain} == {"plain"} and {p.set for p in attacked} == {"gcg"}
    for p, a in zip(plain, attacked, strict=True):
        assert p.id == a.id and a.text == f"{p.text} !! adv {p.id} !!"
    assert _texts(gcg_prompts(tiny_tokenizer, rows, 5, seed=0, chat_template=False)) == _texts(prompts)
    assert _texts(gcg_prompts(tiny_tokenizer, rows, 5, seed=1, chat_template=False)) != _texts(prompts)
    assert gcg_prompts(tiny_tokenizer, rows, 5, seed=0)[0].text.startswith("<|user|>")
    path.write_text('{"id": 1, "goal": "g", "suffix": "s"}\n{"id": 1, "goal": "g", "suffix": "t"}\n')
    with pytest.raises(TucoError, match=r"gcg\.jsonl:2: id '1' appears twice"):
        read_gcg(path)


# --- many-shot ------------------------------------------------------------------------------


def test_many_shot_prompts_hold_k_shots_and_never_their_question(tiny_tokenizer, shared_switch):
    shots = (1, 2, 4, 16)
    prompts = many_shot_prompts(tiny_tokenizer, 5, seed=0, shots=shots)
    assert [p.set for p in prompts[:4]] == ["1-shot", "2-shot", "4-shot", "16-shot"]
    assert len(prompts) == 5 * len(shots)
    for p in prompts:
        k = p.meta["shots"]
        assert len(p.meta["shot_ids"]) == len(set(p.meta["shot_ids"])) == k
        assert p.id not in p.meta["shot_ids"]
        assert p.text.count("<|assistant|>") == k + 1  # k answered shots, then the open turn
        assert p.text.count(p.meta["question"]) == 1  # the held-out question appears once: last
        assert p.text.rstrip().endswith("<|assistant|>")
    by_question = [prompts[i : i + 4] for i in range(0, len(prompts), 4)]
    for group in by_question:  # the shots of k extend those of smaller k
        ids = [p.meta["shot_ids"] for p in group]
        assert all(ids[i] == ids[i + 1][: len(ids[i])] for i in range(len(ids) - 1))
    same = many_shot_prompts(tiny_tokenizer, 5, seed=0, shots=shots)
    other = many_shot_prompts(tiny_tokenizer, 5, seed=1, shots=shots)
    assert _texts(same) == _texts(prompts) and _texts(other) != _texts(prompts)


def test_many_shot_answers_are_the_harmful_ones_and_plain_format(tiny_tokenizer, shared_data):
    prompts = many_shot_prompts(tiny_tokenizer, 3, seed=2, shots=(8,), personas=("psychopathy",),
                                chat_template=False, data_dir=shared_data)
    rows = [json.loads(line) for line in (shared_data / "model-written-evals/persona/psychopathy.jsonl").open()]
    for p in prompts:
        assert p.text.count("Assistant:") == 9 and p.text.endswith("Human: " + p.meta["question"] + "\n\nAssistant:")
        for shot_id in p.meta["shot_ids"]:
            row = rows[int(shot_id.split(":")[1])]
            shot = f"Human: {row['question'].strip()}\n\nAssistant: {row['answer_matching_behavior'].strip()}\n\n"
            assert shot in p.text
    assert plain_dialogue([{"role": "user", "content": "q"}]) == "Human: q\n\nAssistant:"
    with pytest.raises(TucoError, match="shot counts must be positive"):
        many_shot_prompts(tiny_tokenizer, 1, shots=(0, 2), data_dir=shared_data)
