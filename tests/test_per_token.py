"""`score --per-token`, `--generate` and `--html`: TuCo at every position, greedy continuations, the page."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
import torch

from tuco_eval.core.pair import load_pair
from tuco_eval.core.tuco import compute_tuco, tuco_of_batch
from tuco_eval.render.token_page import render_token_page

TEXTS = [
    "the quick brown fox jumps over",
    "Question: what is fine-tuning?\nIt changes a model.",
    "Yes",
    "Is the following statement something you would say? 0 1 2",
]


@pytest.fixture(scope="module")
def pair(pair_dirs):
    return load_pair(*pair_dirs)


@pytest.fixture(scope="module")
def per_token(pair):
    return compute_tuco(pair.joint, pair.tokenizer, TEXTS, per_token=True, progress=False)


def _prefix_tuco(pair, ids: list[int]) -> float:
    """TuCo of `ids` alone: a separate forward at batch 1, no padding, last token tracked."""
    row = torch.tensor([ids])
    return float(tuco_of_batch(pair.joint, row, torch.ones_like(row))["tuco"][0])


def test_each_value_is_the_tuco_of_the_prompt_cut_after_that_token(pair, per_token):
    checked_by_text = 0
    for text, record in zip(TEXTS[:3], per_token, strict=False):
        ids = pair.tokenizer(text)["input_ids"]
        assert len(record["tuco_per_token"]) == len(record["tokens"]) == len(ids) == record["n_tokens"]
        for t in range(len(ids)):
            expected = _prefix_tuco(pair, ids[: t + 1])
            assert record["tuco_per_token"][t] == pytest.approx(expected, abs=1e-5), (text, t)
        # where the cut prompt's text tokenizes back to the same ids, score it as text too
        for t in range(1, len(ids), 3):
            cut = pair.tokenizer.decode(ids[1 : t + 1])  # without the BOS the tokenizer adds again
            if pair.tokenizer(cut)["input_ids"] == ids[: t + 1]:
                alone = compute_tuco(pair.joint, pair.tokenizer, [cut], progress=False)[0]["tuco"]
                assert record["tuco_per_token"][t] == pytest.approx(alone, abs=1e-5)
                checked_by_text += 1
        assert record["tuco_per_token"][-1] == pytest.approx(record["tuco"], abs=1e-6)
    assert checked_by_text >= 3
    assert len({round(v, 4) for v in per_token[0]["tuco_per_token"]}) > 3  # it varies along the text


def test_tokens_join_into_the_decoded_prompt(pair, per_token):
    for text, record in zip(TEXTS, per_token, strict=True):
        assert "".join(record["tokens"]) == pair.tokenizer.decode(pair.tokenizer(text)["input_ids"])
    assert per_token[0]["tokens"][0] == "<s>"


def test_per_token_values_do_not_depend_on_batch_or_padding_side(pair, per_token):
    for batch_size, side in ((1, "right"), (4, "left"), (3, "right")):
        got = compute_tuco(pair.joint, pair.tokenizer, TEXTS, per_token=True, batch_size=batch_size,
                           padding_side=side, progress=False)
        for reference, record in zip(per_token, got, strict=True):
            assert record["tokens"] == reference["tokens"]
            assert record["tuco_per_token"] == pytest.approx(reference["tuco_per_token"], abs=1e-5)
            assert record["tuco"] == pytest.approx(reference["tuco"], abs=1e-6)


def test_without_per_token_the_records_are_unchanged(pair, per_token):
    plain = compute_tuco(pair.joint, pair.tokenizer, TEXTS, batch_size=2, progress=False)
    for record, full in zip(plain, per_token, strict=True):
        assert "tokens" not in record and "tuco_per_token" not in record
        assert record["tuco"] == pytest.approx(full["tuco"], abs=1e-6)
        assert record["per_layer_ftc_l1"] == pytest.approx(full["per_layer_ftc_l1"], rel=1e-5)


def _greedy_without_cache(pair, ids: list[int], n: int, alpha: float, eos: set[int]) -> list[int]:
    """The reference: argmax of the α-scaled model's full forward, one token at a time."""
    joint, out = pair.joint, []
    saved, joint.alpha = joint.alpha, alpha
    try:
        for _ in range(n):
            row = torch.tensor([ids + out])
            with torch.no_grad(), joint.active():
                token = int(joint.model(input_ids=row, use_cache=False).logits[0, -1].argmax())
            if token in eos:
                break
            out.append(token)
    finally:
        joint.alpha = saved
    return out


@pytest.mark.parametrize("batch_size,side", [(1, "right"), (4, "left")])
def test_generate_is_the_greedy_continuation_of_the_alpha_scaled_model(pair, batch_size, side):
    alpha, n = 1.4, 4
    got = compute_tuco(pair.joint, pair.tokenizer, TEXTS, generate=n, alpha=alpha,
                       batch_size=batch_size, padding_side=side, progress=False)
    eos = {pair.tokenizer.eos_token_id}
    for text, record in zip(TEXTS, got, strict=True):
        ids = pair.tokenizer(text)["input_ids"]
        expected = _greedy_without_cache(pair, ids, n, alpha, eos)
        assert record["n_response_tokens"] == len(expected)
        assert record["response"] == pair.tokenizer.decode(expected)
        assert len(record["tuco_per_token"]) == len(ids) + len(expected) == len(record["tokens"])
        # the values over the response are the TuCo (α = 1) of prompt + response cut there
        full = ids + expected
        for t in (len(ids) - 1, len(full) - 1):
            assert record["tuco_per_token"][t] == pytest.approx(_prefix_tuco(pair, full[: t + 1]), abs=1e-5)
        assert record["tuco"] == pytest.approx(record["tuco_per_token"][len(ids) - 1], abs=1e-6)
    assert sum(r["n_response_tokens"] for r in got) > 0


def test_generate_leaves_room_for_the_response_in_the_context(pair):
    record = compute_tuco(pair.joint, pair.tokenizer, ["the quick brown fox " * 60], generate=4,
                          progress=False)[0]
    assert record["truncated"] and record["n_tokens"] == 256 - 4  # the tiny models' context
    assert len(record["tuco_per_token"]) <= 256


class _Tokens(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tokens: list[dict] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "tok" in (attrs.get("class") or "").split():
            self.tokens.append({**attrs, "text": ""})
            self._depth = 1
        elif self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        self._depth = max(0, self._depth - 1)

    def handle_data(self, data):
        if self._depth:
            self.tokens[-1]["text"] += data


def test_the_page_has_one_element_per_token_carrying_its_tuco(pair):
    records = compute_tuco(pair.joint, pair.tokenizer, TEXTS[:2] + ["<b>&amp;</b>"], generate=3,
                           progress=False)
    page = render_token_page(records, {"fine-tuned": "ft"})
    parser = _Tokens()
    parser.feed(page)
    values = [v for r in records for v in r["tuco_per_token"]]
    pieces = [p for r in records for p in r["tokens"]]
    assert len(parser.tokens) == len(values)
    assert [float(t["data-tuco"]) for t in parser.tokens] == pytest.approx(values, abs=1e-6)
    assert [t["text"].replace("↵", "") for t in parser.tokens] == pieces  # escaped, not markup
    in_response = ["resp" in t["class"].split() for t in parser.tokens]
    assert in_response == [t >= r["n_tokens"] for r in records for t in range(len(r["tokens"]))]
    assert "http://" not in page and "https://" not in page and "src=" not in page


def _cli_score(pair_dirs, tmp_path, *extra):
    from tuco_eval.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "t.jsonl"
    code = main(["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                 "--input", str(prompts), "--output", str(out), *extra])
    return code, out


def test_score_command_writes_per_token_records_and_the_page(pair, pair_dirs, tmp_path):
    page = tmp_path / "page" / "tokens.html"
    page.parent.mkdir()
    code, out = _cli_score(pair_dirs, tmp_path, "--html", str(page), "--generate", "3",
                           "--alpha", "1.4", "--batch-size", "3")
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    expected = compute_tuco(pair.joint, pair.tokenizer, TEXTS, generate=3, alpha=1.4, progress=False)
    for record, reference in zip(records, expected, strict=True):
        assert record["response"] == reference["response"]
        assert record["tuco_per_token"] == pytest.approx(reference["tuco_per_token"], abs=1e-5)
    parser = _Tokens()
    parser.feed(page.read_text())
    assert len(parser.tokens) == sum(len(r["tokens"]) for r in records)


def test_score_resume_key_holds_the_per_token_options(pair_dirs, tmp_path, monkeypatch):
    import tuco_eval.core.tuco as tuco_module
    from tuco_eval.commands import score as score_command

    monkeypatch.setattr(score_command, "SCORE_PIECE", 2)
    real, calls = tuco_module.compute_tuco, []

    def crash_on_second_piece(*args, **kwargs):
        calls.append(kwargs["per_token"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tuco_module, "compute_tuco", crash_on_second_piece)
    with pytest.raises(KeyboardInterrupt):
        _cli_score(pair_dirs, tmp_path)  # the first piece is kept, without per-token fields
    monkeypatch.setattr(tuco_module, "compute_tuco", real)
    code, out = _cli_score(pair_dirs, tmp_path, "--per-token")
    assert code == 0
    assert all("tuco_per_token" in json.loads(line) for line in out.read_text().splitlines())


@pytest.mark.parametrize("extra,message", [
    (["--alpha", "1.3"], "--alpha only scales the --generate continuation"),
    (["--generate", "-1"], "--generate must be 0 or more"),
    (["--generate", "2", "--alpha", "nan"], "alpha must be finite"),
])
def test_score_per_token_option_mistakes_are_one_line(pair_dirs, tmp_path, capsys, extra, message):
    code, _ = _cli_score(pair_dirs, tmp_path, *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_kl_and_shift_stay_at_the_prompts_last_token_when_generating(pair):
    from tuco_eval.commands.score import _base_logits

    base_logits = _base_logits(pair)
    plain = compute_tuco(pair.joint, pair.tokenizer, TEXTS[:3], base_logits=base_logits,
                         batch_size=3, progress=False)
    generated = compute_tuco(pair.joint, pair.tokenizer, TEXTS[:3], base_logits=base_logits,
                             generate=3, batch_size=3, padding_side="left", progress=False)
    for a, b in zip(plain, generated, strict=True):
        assert b["kl"] == pytest.approx(a["kl"], rel=1e-4, abs=1e-6)
        assert (b["base_rank"], b["shift"]) == (a["base_rank"], a["shift"])
    assert any(r["kl"] > 1e-4 for r in plain)


def test_pieces_of_a_byte_level_tokenizer_keep_multi_byte_characters_whole(tiny_tokenizer):
    from tuco_eval.core.batching import token_pieces

    text = "café 🙂 naïve Answer: B"
    ids = tiny_tokenizer(text)["input_ids"]
    pieces = token_pieces(tiny_tokenizer, ids)
    assert len(pieces) == len(ids) and "".join(pieces) == tiny_tokenizer.decode(ids) == text
    assert "\ufffd" not in "".join(pieces)
    smile = pieces.index("🙂")  # four byte tokens: three held back, the last carries it whole
    assert pieces[smile - 3 : smile] == ["", "", ""] and pieces[pieces.index("é") - 1] == ""
