"""Shared fixtures. Each section serves one concern; add new sections below, don't mix them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.browser import LocalPage, launch_browser
from tests.helpers.shared_data import require_shared_data

# The Hub is unreachable on the build machines; never let a test wait for it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# ---------------------------------------------------------------------------------------------
# Shared evaluation data (the project's `shared/data/` copies of the paper's datasets;
# where they are: tests/helpers/shared_data.py)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; tests that need it skip, with the reason, where it is absent."""
    return require_shared_data()


# ---------------------------------------------------------------------------------------------
# A tiny tokenizer with a chat template, built locally (no Hub)
# ---------------------------------------------------------------------------------------------

TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "{% if not loop.last or add_generation_prompt %}</s>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_TINY_TOKENIZER_CORPUS = [
    "Is the following statement something you would say? Yes No",
    "The following are multiple choice questions (with answers) about abstract algebra.",
    "Question: Find the degree of the field extension. A. 0 B. 4 C. 2 D. 6 Answer: B",
    "<|system|> <|user|> <|assistant|> You are a helpful assistant.",
]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer (any text encodes) of ~300 tokens, with TINY_CHAT_TEMPLATE."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_TINY_TOKENIZER_CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


# ---------------------------------------------------------------------------------------------
# Tiny random models as lm-eval models, for end-to-end runs of the tasks
# ---------------------------------------------------------------------------------------------


def build_tiny_llama(vocab_size: int, seed: int = 0):
    """A 2-layer, 64-wide random LlamaForCausalLM in eval mode (milliseconds per forward)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=vocab_size,
        max_position_embeddings=2048,
    )
    return LlamaForCausalLM(config).eval()


def build_tiny_hf_lm(tokenizer):
    """lm-eval's `--model hf` around a tiny random Llama."""
    from lm_eval.models.huggingface import HFLM

    model = build_tiny_llama(len(tokenizer))
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, device="cpu")


def build_tiny_tuco_lm(tokenizer):
    """`--model tuco_scaled` over a tiny pair (base: seed 0, fine-tuned: seed 1), α = 1.1."""
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    model, base = build_tiny_llama(len(tokenizer), seed=1), build_tiny_llama(len(tokenizer), seed=0)
    return TucoScaledLM(pretrained=model, base=base, tokenizer=tokenizer, alpha=1.1, batch_size=8,
                        device="cpu")


# lm-eval model name -> builder(tokenizer) -> lm-eval LM.
TINY_LMS = {"hf": build_tiny_hf_lm, "tuco_scaled": build_tiny_tuco_lm}


@pytest.fixture(scope="session", params=sorted(TINY_LMS))
def tiny_lm(request, tiny_tokenizer):
    """Each lm-eval model of TINY_LMS, built once per session around the tiny tokenizer."""
    return TINY_LMS[request.param](tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_hf_lm(tiny_tokenizer):
    """`--model hf` alone, for tests about lm-eval's own handling (e.g. its chat templating)."""
    return build_tiny_hf_lm(tiny_tokenizer)


# ---------------------------------------------------------------------------------------------
# A tiny (fine-tuned, base) pair saved as local folders, and the fixture tasks' TaskManager
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pair_dirs(tmp_path_factory):
    """(fine-tuned folder, base folder) of a tiny Llama pair with a tokenizer; never modified."""
    from tests.helpers.tiny_models import save_pair

    return save_pair(tmp_path_factory.mktemp("pair"), "llama")


@pytest.fixture(scope="session")
def task_manager():
    """lm-eval's TaskManager over tests/fixtures/tasks only (tiny_mc, tiny_gen[_beams|_sample], tiny_empty)."""
    from lm_eval.tasks import TaskManager

    from tests.helpers.tiny_models import FIXTURE_TASKS

    return TaskManager(include_path=FIXTURE_TASKS, include_defaults=False)


# ---------------------------------------------------------------------------------------------
# A checkpoint series over the tiny pair's base, and spies on what a sweep loads and evaluates
# (test_checkpoint_sweep.py, test_series_reuse.py; their runner: tests/helpers/checkpoint_series.py)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def series_dirs(pair_dirs, tmp_path_factory):
    """runs/sft/checkpoint-{1,2,3} (full models) and adapters/checkpoint-{10,20} (LoRA) over the
    pair's base; folders written once, never modified."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.helpers.tiny_models import finetune

    root = tmp_path_factory.mktemp("series")
    base = AutoModelForCausalLM.from_pretrained(pair_dirs[1]).eval()
    tokenizer = AutoTokenizer.from_pretrained(pair_dirs[1])
    for step in (1, 2, 3):
        folder = root / "runs" / "sft" / f"checkpoint-{step}"
        finetune(base, seed=step, scale=0.1 * step).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    for seed, step in ((4, 10), (5, 20)):
        torch.manual_seed(seed)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                            init_lora_weights=False)
        get_peft_model(copy.deepcopy(base), config).save_pretrained(root / "adapters" / f"checkpoint-{step}")
    return root


@pytest.fixture
def evaluated(monkeypatch):
    """(RUN_DIR name, α) of every unit lm-eval evaluates."""
    import tuco_eval.sweeps.alphas

    calls: list[tuple[str, float]] = []
    original = tuco_eval.sweeps.alphas._evaluate_unit

    def counted(lm, run_dir, alpha, *args):
        calls.append((Path(run_dir).name, alpha))
        return original(lm, run_dir, alpha, *args)

    monkeypatch.setattr(tuco_eval.sweeps.alphas, "_evaluate_unit", counted)
    return calls


@pytest.fixture
def loads(monkeypatch):
    """The folder of every AutoModelForCausalLM.from_pretrained call (lm-eval's `hf` loads through it)."""
    from transformers import AutoModelForCausalLM

    calls: list[str] = []
    original = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, name, *args, **kwargs):
        calls.append(str(name))
        return original(cls, name, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    return calls


# ---------------------------------------------------------------------------------------------
# A real browser: headless Chromium (Debian's package) driven by Playwright, offline
# (launch_browser, LocalPage: tests/helpers/browser.py)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    """A Playwright Chromium browser; skips, saying why, where Chromium or Playwright is missing."""
    driver, launched = launch_browser()
    yield launched
    launched.close()
    driver.stop()


@pytest.fixture
def page_for(browser):
    """`page_for(path) -> LocalPage`; the test fails on console errors or outside requests."""
    opened: list[LocalPage] = []

    def open_page(path, viewport: dict | None = None) -> LocalPage:
        opened.append(LocalPage(browser, path, viewport))
        return opened[-1]

    yield open_page
    for local in opened:
        local.context.close()
    for local in opened:
        local.assert_clean()


# ---------------------------------------------------------------------------------------------
# tuco-eval's CLI in this process (each file keeps one real subprocess test per entry point)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def run_cli(capsys):
    """`run_cli(args) -> (exit code, stdout, stderr)` of `tuco_eval.cli.main`, without the few
    seconds a fresh interpreter spends importing torch and lm-eval."""
    from tuco_eval.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code
        out, err = capsys.readouterr()
        return code, out, err

    return run
