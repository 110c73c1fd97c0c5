"""Faults and bad input, one test per row of contributing/reliability.md (the rest live beside their module)."""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lm_eval import simple_evaluate

from tests.helpers.naive import reference_loglikelihood
from tests.helpers.tiny_models import FIXTURE_TASKS, make_tokenizer
from tuco_eval.core.joint import NonFiniteError
from tuco_eval.core.pair import load_pair
from tuco_eval.core.tuco import compute_tuco, read_prompts
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store import units as store
from tuco_eval.store.units import list_units, read_unit, unit_paths
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.errors import TucoError


@pytest.fixture()
def lm(pair_dirs):
    return TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)


def _nan_in_base_block(joint, index):
    original = joint.base_blocks[index]

    def poisoned(*args, **kwargs):
        out = original(*args, **kwargs)
        return out * float("nan")

    joint.base_blocks[index] = poisoned


def test_nonfinite_logits_name_alpha_and_first_block(lm, task_manager):
    _nan_in_base_block(lm.joint, 1)
    lm.alpha = 1.25
    with pytest.raises(NonFiniteError, match=r"non-finite logits at α=1.25 \(first in the output of block 1 of 3\)"):
        simple_evaluate(model=lm, tasks=["tiny_mc"], task_manager=task_manager, limit=2, bootstrap_iters=0)


def test_nonfinite_tuco_is_never_returned(pair_dirs):
    pair = load_pair(*pair_dirs)
    _nan_in_base_block(pair.joint, 2)
    with pytest.raises(NonFiniteError, match="non-finite TuCo at α=1.0 .*block 2 of 3"):
        compute_tuco(pair.joint, pair.tokenizer, ["the quick brown fox"], progress=False)


@pytest.mark.parametrize("own_path", [True, False])
def test_out_of_memory_names_the_batch_size(lm, task_manager, monkeypatch, own_path):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(lm.model, "forward", oom)  # the model itself: HFLM's path and tuco_scaled's own
    monkeypatch.setattr(lm, "prefix_reuse", own_path)
    with pytest.raises(TucoError, match="out of GPU memory at batch_size=4.*batch_size=auto"):
        simple_evaluate(model=lm, tasks=["tiny_mc"], task_manager=task_manager, limit=2, bootstrap_iters=0)


def test_automatic_batch_size_still_works(pair_dirs, task_manager):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1.1, device="cpu",
                      batch_size="auto", max_batch_size=8)
    out = simple_evaluate(model=lm, tasks=["tiny_mc"], task_manager=task_manager, limit=4,
                          bootstrap_iters=0, log_samples=True)
    for sample in out["samples"]["tiny_mc"]:  # each log-likelihood against the naive block loop
        for (context, continuation), resp in zip(sample["arguments"], sample["resps"], strict=True):
            expected, _ = reference_loglikelihood(lm.model, lm.base_model, *lm._encode_pair(context, continuation), 1.1)
            assert resp[0][0] == pytest.approx(expected, abs=1e-4)


def test_negative_alpha_is_allowed_with_a_warning(lm, caplog):
    with caplog.at_level(logging.WARNING, logger="tuco_eval"):
        lm.alpha = -0.5
    assert lm.alpha == -0.5 and "reverses the fine-tuning direction" in caplog.text


def test_identical_pair_and_chat_template_differences_are_warned(pair_dirs, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tuco_eval"):
        load_pair(pair_dirs[1], pair_dirs[1])
    assert "identical to the base: TuCo is 0" in caplog.text
    other = tmp_path / "ft-other-template"
    tok = make_tokenizer()
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(pair_dirs[0]).save_pretrained(other)
    tok.save_pretrained(other)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tuco_eval"):
        load_pair(str(other), pair_dirs[1])
    assert "different chat templates" in caplog.text


def test_long_prompts_are_truncated_and_counted(pair_dirs, task_manager, caplog):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4, max_length=12)
    with caplog.at_level(logging.WARNING, logger="tuco_eval"):
        simple_evaluate(model=lm, tasks=["tiny_mc"], task_manager=task_manager, limit=3, bootstrap_iters=0)
    assert "6 of 6 requests are longer than the 12-token context" in caplog.text


def test_edited_store_file_is_redone(lm, task_manager, tmp_path):
    run = tmp_path / "run"
    kwargs = dict(settings=EvalSettings(task_manager, limit=4), model_args="m", progress=False)
    sweep(lm, ["tiny_mc"], run, alphas=[0.5, 1.0], **kwargs)
    good = read_unit(run, 0.5, "tiny_mc")
    jsonl, _ = unit_paths(run, 0.5, "tiny_mc")
    data = jsonl.read_bytes()
    at = data.index(b'"acc": ') + len(b'"acc": ')
    flipped = b"1" if data[at : at + 1] == b"0" else b"0"
    edited = data[:at] + flipped + data[at + 1 :]  # one score flipped: same length, same lines
    assert len(edited) == len(data) and edited != data
    jsonl.write_bytes(edited)
    assert 0.5 not in list_units(run)["tiny_mc"]  # only the checksum can tell
    sweep(lm, ["tiny_mc"], run, alphas=[0.5, 1.0], **kwargs)
    assert read_unit(run, 0.5, "tiny_mc") == good


def test_disk_full_keeps_finished_units(lm, task_manager, tmp_path, monkeypatch):
    run = tmp_path / "run"
    kwargs = dict(settings=EvalSettings(task_manager, limit=4), model_args="m", progress=False)
    sweep(lm, ["tiny_mc"], run, alphas=[1.0], **kwargs)
    before = read_unit(run, 1.0, "tiny_mc")

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "atomic_write_bytes", full)
    with pytest.raises(TucoError, match="No space left on device.*rerun to resume"):
        sweep(lm, ["tiny_mc"], run, alphas=[1.0, 0.5], **kwargs)
    assert read_unit(run, 1.0, "tiny_mc") == before


def test_empty_task_is_a_clear_error(lm, task_manager, tmp_path):
    with pytest.raises(TucoError, match="cannot build the tasks tiny_empty: a task has no documents"):
        sweep(lm, ["tiny_empty"], tmp_path / "run", alphas=[1.0], settings=EvalSettings(task_manager),
              progress=False)


def _cli(*args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "tuco_eval", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_unwritable_output_fails_before_loading(pair_dirs, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = _cli("sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--tasks", "tiny_mc",
                "--include-path", FIXTURE_TASKS, "--output", str(blocker / "run"))
    assert done.returncode == 2 and "cannot write to --output" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_old_spellings_still_reach_the_command(pair_dirs, tmp_path, run_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(["sweep", "--model_args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--tasks",
                            "tiny_mc", "--include_path", FIXTURE_TASKS, "--batch_size", "auto", "--out",
                            blocker / "run"])
    assert code == 2 and "cannot write to --output" in err, err


@pytest.mark.parametrize(("old", "new"), [
    (["report", "r", "--out", "o"], ["report", "r", "--output", "o"]),
    (["demo", "--out", "o"], ["demo", "--output", "o"]),
    (["experiment", "gcg", "--base", "b", "--finetuned", "f", "--out", "o", "--base_revision", "v",
      "--batch_size", "3", "--max_new_tokens", "5"],
     ["experiment", "gcg", "--base", "b", "--finetuned", "f", "--output", "o", "--base-revision", "v",
      "--batch-size", "3", "--max-new-tokens", "5"]),
    (["score", "--base", "b", "--finetuned", "f", "--input", "i", "--out", "o", "--text_field", "t",
      "--gguf_file=g"],
     ["score", "--base", "b", "--finetuned", "f", "--input", "i", "--output", "o", "--text-field", "t",
      "--gguf-file=g"]),
    (["sweep", "--model_args=m", "--tasks", "t", "--out", "o", "--num_fewshot", "2", "--batch_size", "auto",
      "--include_path", "a", "--include-path", "b", "--apply_chat_template", "--fewshot_as_multiturn",
      "--system_instruction", "s", "--log_tuco", "--log_kl"],
     ["sweep", "--model-args=m", "--tasks", "t", "--output", "o", "--num-fewshot", "2", "--batch-size", "auto",
      "--include-path", "a", "--include-path", "b", "--apply-chat-template", "--fewshot-as-multiturn",
      "--system-instruction", "s", "--log-tuco", "--log-kl"]),
])
def test_old_spellings_parse_as_the_current_ones(old, new):
    from tuco_eval.cli import build_parser

    assert vars(build_parser().parse_args(old)) == vars(build_parser().parse_args(new))


def test_every_option_of_every_subcommand_states_its_default():
    from tuco_eval.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        if name == "lm-eval":  # listed for --help; lm-eval's own parser takes its flags untouched
            continue
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                text = sub.formatter_class(sub.prog)._expand_help(action)
                assert re.search(r"\((required|default: [^()]*)\)$", text), (name, action.dest, text)
                assert "default: None" not in text, (name, action.dest)
                for option in action.option_strings:  # one spelling: lower-case words joined by dashes
                    assert re.fullmatch(r"-[a-z]|--[a-z0-9]+(-[a-z0-9]+)*", option), (name, option)
                    assert option not in ("--out", "--output-dir", "--out-dir", "--output-path"), (name, option)
            if action.dest == "device":  # one default, resolved by one helper
                assert action.default == "auto", name
            if action.dest == "batch_size":
                assert str(action.default) == "8", name
        options = {o for a in sub._actions for o in a.option_strings}
        if name in ("score", "sweep", "experiment", "report", "demo"):  # every output path is --output
            assert "--output" in options, name
        if "--base" in options:  # every loaded pair can be pinned to Hub revisions
            assert {"--revision", "--base-revision"} <= options, name
        if name == "experiment":  # a default written into the help, kept in step with the code
            from tuco_eval.experiments.prompts.many_shot import HARMFUL_PERSONAS

            assert ",".join(HARMFUL_PERSONAS) in sub.format_help().replace("\n", "").replace(" ", "")
        done = _cli(name, "--no-such-flag")
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_prompt_reader_parses_or_raises_tuco_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "p.jsonl"
    path.write_bytes(data)
    try:
        prompts = read_prompts(path)
    except TucoError as err:
        assert "\n" not in str(err)
    else:
        assert all(isinstance(text, str) and text for _, text in prompts)


def test_trust_remote_code_is_off_unless_asked(pair_dirs, monkeypatch):
    import transformers

    seen = []
    original = transformers.AutoConfig.from_pretrained.__func__

    def spy(cls, name, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return original(cls, name, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", classmethod(spy))
    load_pair(*pair_dirs)
    assert seen and not any(seen)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_pickled_weights_load_without_running_code(pair_dirs, tmp_path):
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "pickled"
    model = AutoModelForCausalLM.from_pretrained(pair_dirs[1])
    model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # a plain torch pickle instead
    (folder / "tokenizer.json").write_bytes((Path(pair_dirs[1]) / "tokenizer.json").read_bytes())
    (folder / "tokenizer_config.json").write_bytes((Path(pair_dirs[1]) / "tokenizer_config.json").read_bytes())
    assert load_pair(pair_dirs[0], str(folder)).base is not None  # tensors alone load fine
    _Payload.marker = tmp_path / "pwned"
    torch.save({"model.embed_tokens.weight": _Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(TucoError, match="cannot load the base model"):
        load_pair(pair_dirs[0], str(folder))
    assert not _Payload.marker.exists()  # weights_only=True: the pickle's code never ran


@pytest.mark.slow
def test_lm_eval_passthrough_reports_user_errors_in_one_line(pair_dirs):
    done = _cli("lm-eval", "--model", "tuco_scaled", "--model_args", f"pretrained={pair_dirs[0]}",
                "--tasks", "tiny_mc", "--include_path", FIXTURE_TASKS, "--device", "cpu")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("tuco-eval lm-eval: error: tuco_scaled needs")
    assert "Traceback" not in done.stderr


def test_version_and_no_abbreviations(run_cli):
    from importlib.metadata import version

    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"tuco-eval {version('tuco-eval')}"
    # `--label` is not read as `--labels`, `--fold` not as `--folds`
    code, _, err = run_cli(["report", "runs/x", "--label", "a"])
    assert code == 2 and "unrecognized arguments: --label a" in err
    code, _, err = run_cli(["cv", "runs/x", "--fold", "3"])
    assert code == 2 and "unrecognized arguments: --fold 3" in err


def test_lm_evals_model_flag_is_refused_by_name(run_cli):
    code, _, err = run_cli(["sweep", "--model_args", "pretrained=F,base=P", "--model", "tuco_scaled",
                            "--tasks", "t", "--output", "o"])
    assert code == 2 and "--model is lm-eval's choice of model type" in err and "drop --model" in err
    assert len(err.strip().splitlines()) == 1


def test_the_pair_is_named_as_lm_eval_names_it_and_the_old_flags_say_they_are_deprecated(run_cli, tmp_path):
    from tuco_eval.cli import build_parser, check_args

    new = check_args(build_parser().parse_args(
        ["score", "--model-args", "pretrained=f,base=b,revision=r,base_revision=v,dtype=bfloat16",
         "--input", "i", "--output", "o"]))
    assert (new.finetuned, new.base, new.revision, new.base_revision, new.dtype) == ("f", "b", "r", "v", "bfloat16")
    old = check_args(build_parser().parse_args(["score", "--base", "b", "--finetuned", "f", "--input", "i",
                                                "--output", "o"]))
    assert (old.finetuned, old.base, old.dtype) == ("f", "b", "auto")  # lm-eval's default, stated in --help
    code, _, err = run_cli(["score", "--base", "b", "--finetuned", str(tmp_path / "missing"), "--input",
                            tmp_path / "none.jsonl", "--output", tmp_path / "o.jsonl"])
    assert code == 2 and err.splitlines()[0].startswith("tuco-eval score: --base, --finetuned are deprecated")
    for args, says in (
        (["--model-args", "pretrained=f,base=b", "--base", "b"], "give the pair once"),
        (["--model-args", "pretrained=f"], "base= is missing"),
        ([], "needs the pair: --model-args pretrained=FT,base=PT"),
        (["--model-args", "pretrained=f,base=b,alpha=2"], "alpha= is not a key of the pair"),
    ):
        code, _, err = run_cli(["score", *args, "--input", "i", "--output", tmp_path / "o.jsonl"])
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, (args, err)


def test_one_chat_template_flag_and_its_old_spellings(capsys):
    from tuco_eval.cli import build_parser, check_args

    def parsed(*args):
        return check_args(build_parser().parse_args([*args, "--model-args", "pretrained=f,base=b", "--output", "o"]))

    assert parsed("score", "--input", "i", "--apply-chat-template").chat_template is True
    assert parsed("score", "--input", "i").chat_template is False
    assert parsed("score", "--input", "i", "--chat-template").chat_template is True
    assert "--chat-template is deprecated: use --apply-chat-template" in capsys.readouterr().err
    assert parsed("experiment", "web-vs-chat").chat_template is True  # the paper's setting
    assert parsed("experiment", "web-vs-chat", "--no-apply-chat-template").chat_template is False
    assert parsed("experiment", "web-vs-chat", "--no-chat-template").chat_template is False
    assert "--no-chat-template is deprecated" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["score", "--model-args", "pretrained=f,base=b", "--input", "i", "--output", "o"],
                                     ["experiment", "web-vs-chat", "--model-args", "pretrained=f,base=b", "--output", "o"],
                                     ["demo"], ["sweep", "--model-args", "pretrained=f,base=b", "--tasks", "t",
                                                "--output", "o"]])
def test_verbosity_sets_lm_evals_log_level(command):
    import logging

    from tuco_eval.cli import build_parser, check_args

    logger = logging.getLogger("lm_eval")
    before = logger.level
    try:
        check_args(build_parser().parse_args([*command, "--verbosity", "DEBUG"]))
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(before)
