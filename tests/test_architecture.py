"""The house: layers that import one way (docs/architecture.md), and the helpers shared by all."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_models import make_tokenizer
from tuco_eval.core.batching import encode_prompts, pad_batch, render_chat

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tuco_eval"


def test_import_contracts_hold():
    # layers one way, no cycle between siblings, no torch/transformers under the analysis
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def _private_imports() -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tuco_eval"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private or any(p.startswith("_") for p in node.module.split(".")):
                        found.append(f"{path.relative_to(REPO)}: {node.module}.{alias.name}")
    return found


def test_no_private_name_is_imported_across_modules():
    assert _private_imports() == []


def test_the_private_name_check_sees_a_private_import(tmp_path, monkeypatch):
    # the scan above must be able to fail: plant one private import and look again
    planted = PACKAGE / "_planted_for_test.py"
    planted.write_text("from tuco_eval.analysis.cv import _CHUNK\n")
    try:
        assert _private_imports() == ["tuco_eval/_planted_for_test.py: tuco_eval.analysis.cv._CHUNK"]
    finally:
        planted.unlink()


_WITHOUT_TORCH = """
import sys

class Unimportable:  # any import of these raises ImportError, as where they are not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "lm_eval", "peft", "accelerate"):
            raise ImportError(f"{name} is not importable in this test")

sys.meta_path.insert(0, Unimportable())
from tuco_eval.cli import main
main(sys.argv[1:])
"""


def test_cv_and_report_run_where_torch_and_transformers_cannot_be_imported(tmp_path):
    from test_report import build_run

    run = build_run(tmp_path / "ckpt-A", "ckpt-A")
    for args in (["cv", str(run)], ["report", str(run), "--output", str(tmp_path / "out")]):
        done = subprocess.run(
            [sys.executable, "-c", _WITHOUT_TORCH, *args], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "cv.json").is_file() and (tmp_path / "out" / "index.html").is_file()


# ---- one BOS rule for chat prompts ----------------------------------------------------------


def _tokenizer(adds_bos: bool, template_bos: bool):
    from tokenizers import processors

    tokenizer = make_tokenizer()  # its post-processor adds <s> (id 1)
    if not adds_bos:
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A")
    if template_bos:
        tokenizer.chat_template = "<s>" + tokenizer.chat_template
    return tokenizer


@pytest.mark.parametrize("adds_bos", [True, False])
@pytest.mark.parametrize("template_bos", [True, False])
def test_a_chat_prompt_holds_bos_once_whoever_writes_it(adds_bos, template_bos):
    tokenizer = _tokenizer(adds_bos, template_bos)
    bos = tokenizer.bos_token_id
    (ids,), _ = encode_prompts(tokenizer, ["Is it so?"], chat_template=True)
    assert ids.count(bos) == (1 if adds_bos or template_bos else 0)
    assert (ids[0] == bos) == (adds_bos or template_bos)
    # the experiments' prompt sets render the same text, and `score` tokenizes it the same way
    text = render_chat(tokenizer, [{"role": "user", "content": "Is it so?"}])
    assert tokenizer(text)["input_ids"] == ids


# ---- one padding helper ---------------------------------------------------------------------


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_batch_places_rows_and_mask_on_its_side(side):
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, side=side)
    if side == "left":
        assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    else:
        assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
