"""The house: layers that import one way (contributing/architecture.md), and the helpers shared by all."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.tiny_models import make_tokenizer
from tuco_eval.core.batching import encode_prompts, pad_batch, render_chat

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tuco_eval"


def test_import_contracts_hold():
    # layers one way, no cycle between siblings, no torch/transformers under the analysis
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "7 kept, 0 broken" in done.stdout


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
    planted.write_text("from tuco_eval.stats.cv import _CHUNK\n")
    try:
        assert _private_imports() == ["tuco_eval/_planted_for_test.py: tuco_eval.stats.cv._CHUNK"]
    finally:
        planted.unlink()


def test_the_top_folder_holds_entry_points_only():
    # everything else lives in a package of its layer (contributing/architecture.md)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py"]


def test_public_names_resolve_lazily_without_loading_torch():
    import tuco_eval
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    for name in tuco_eval.__all__:  # each is the object at its module (contributing/architecture.md)
        assert getattr(tuco_eval, name) is getattr(sys.modules[tuco_eval._LAZY[name]], name)
    # the lm-eval entry point and the .pth hook's placeholder name the class lm-eval registers
    # (a placeholder other than the class's own module:name makes lm-eval refuse the class)
    entry = re.search(r'^tuco_scaled = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)[1]
    module, _, attr = entry.partition(":")
    assert getattr(__import__(module, fromlist=[attr]), attr) is TucoScaledLM
    hook = ast.parse((REPO / "_tuco_eval_lm_eval_hook.py").read_text())  # the file, not the installed copy
    target = next(n.value.value for n in hook.body if isinstance(n, ast.Assign) and n.targets[0].id == "_TARGET")
    assert target == f"{TucoScaledLM.__module__}:{TucoScaledLM.__name__}"
    code = "import sys, tuco_eval; tuco_eval.TucoError; print(sorted(m for m in ('torch', 'lm_eval', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]


TESTS = REPO / "tests"


def _test_module_imports(files, root: Path = REPO) -> list[str]:
    """`file: module` for each import of a test module (test_*) or conftest in `files`, however
    spelled (`import test_x`, `from tests.test_x import`, `from tests import conftest`, `from .test_x
    import`): what they share lives in tests/helpers/, fixtures in tests/conftest.py."""
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                package = ".".join(filter(None, ["tests" if node.level else "", node.module or ""]))
                modules = [package, *(f"{package}.{alias.name}".lstrip(".") for alias in node.names)]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                name = parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0]
                if name == "conftest" or name.startswith("test_"):
                    found.add(f"{path.relative_to(root)}: {name}")
    return sorted(found)


def test_no_test_module_imports_another_or_conftest():
    # tests is a package; a test module imports tests.helpers.<role>, never another test module
    files = [*TESTS.glob("test_*.py"), TESTS / "conftest.py", *(TESTS / "helpers").glob("*.py"),
             *(REPO / "scripts").glob("*.py")]
    assert (TESTS / "__init__.py").is_file() and (TESTS / "helpers" / "__init__.py").is_file()
    assert _test_module_imports(files) == []


def test_the_test_import_check_sees_each_spelling(tmp_path):
    # the scan above must be able to fail: plant each spelling and look again
    planted = tmp_path / "tests" / "test_planted.py"
    planted.parent.mkdir()
    planted.write_text("import test_a\nfrom test_b import x\nfrom tests.test_c import y\nfrom tests import test_d\n"
                       "from conftest import z\nfrom .test_e import w\nfrom . import conftest\n"
                       "from tests.helpers.naive import naive_tuco\nimport tests.helpers.report_runs\n")
    assert _test_module_imports([planted], tmp_path) == [f"tests/test_planted.py: {name}" for name in
                                               ["conftest", "test_a", "test_b", "test_c", "test_d", "test_e"]]


def _markup_in_python() -> list[str]:
    tag = re.compile(r"<(/?)(html|body|td|tr|th|table|span|div|p|section|h[1-6]|a|ul|li|b|br|figure|details|script|style)[ >]")
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and tag.search(node.value):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_page_markup_lives_in_the_templates():
    # every HTML page is a jinja2 template with autoescape (render/templates); Python passes values
    assert _markup_in_python() == []


def test_architecture_doc_names_every_module_of_the_layers():
    # contributing/architecture.md's module table is drawn from the code: a new module is listed there
    doc = (REPO / "contributing" / "architecture.md").read_text()
    for package in ("util", "records", "core", "harness", "sweeps", "store", "stats", "analysis", "render", "pipeline", "watch"):
        assert f"`{package}/`" in doc
        for module in sorted((PACKAGE / package).glob("*.py")):
            row = f"| {package} | " in doc and any(
                line.startswith(f"| {package} |") and f"`{module.name}`" in line for line in doc.splitlines()
            )
            assert module.name == "__init__.py" or row, f"{package}/{module.name} is not in contributing/architecture.md"


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
    from tests.helpers.report_runs import build_run

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
