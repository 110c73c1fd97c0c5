"""`tuco-eval sweep` with the flags an lm-eval user types (`--model_args`, `--output_path`,
`--include_path`, `--gen_kwargs`, `--seed`, `--log_samples`, `--max_batch_size`,
`--trust_remote_code`): the stored generations equal lm-eval's own `simple_evaluate` with the same
settings on the same model."""

from __future__ import annotations

import pytest
from lm_eval import simple_evaluate

from tests.helpers.tiny_models import FIXTURE_TASKS
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.units import read_unit

TASK = "tiny_gen_sample"  # sampling at temperature 1: the seed decides every token
LIMIT = 4


def _sweep(run_cli, pair_dirs, out, *flags):
    code, _, err = run_cli(["sweep", "--model_args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                            "--tasks", TASK, "--include_path", FIXTURE_TASKS, "--output_path", out,
                            "--alphas", "1.0", "--limit", str(LIMIT), "--batch_size", "2", "--device", "cpu",
                            "--log_samples", *flags])
    assert code == 0, err
    return {r["doc_id"]: r["responses"] for r in read_unit(out, 1.0, TASK)}


def _lm_eval(pair_dirs, task_manager, gen_kwargs, seed):
    lm = TucoScaledLM.create_from_arg_string(f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha=1.0",
                                             {"batch_size": 2, "device": "cpu"})
    out = simple_evaluate(model=lm, tasks=[TASK], task_manager=task_manager, log_samples=True, limit=LIMIT,
                          bootstrap_iters=0, gen_kwargs=gen_kwargs, random_seed=seed, numpy_random_seed=seed,
                          torch_random_seed=seed, fewshot_random_seed=seed)
    return {s["doc_id"]: [r[0] for r in s["resps"]] for s in out["samples"][TASK]}


def test_gen_kwargs_and_seed_reach_lm_eval_as_lm_eval_reads_them(run_cli, pair_dirs, task_manager, tmp_path):
    stored = _sweep(run_cli, pair_dirs, tmp_path / "seed7", "--gen_kwargs", "max_gen_toks=3", "--seed", "7")
    assert stored == _lm_eval(pair_dirs, task_manager, "max_gen_toks=3", 7)
    other = _sweep(run_cli, pair_dirs, tmp_path / "seed8", "--gen_kwargs", "max_gen_toks=3", "--seed", "8")
    assert other == _lm_eval(pair_dirs, task_manager, "max_gen_toks=3", 8) and other != stored
    metadata = read_run_info(tmp_path / "seed7").metadata
    assert metadata["gen_kwargs"] == "max_gen_toks=3"
    assert [metadata[k] for k in ("random_seed", "numpy_random_seed", "torch_random_seed",
                                  "fewshot_random_seed")] == [7, 7, 7, 7]


def test_a_sweep_without_them_records_what_it_did_before(run_cli, pair_dirs, tmp_path):
    _sweep(run_cli, pair_dirs, tmp_path / "plain")
    metadata = read_run_info(tmp_path / "plain").metadata
    assert "gen_kwargs" not in metadata and "random_seed" not in metadata


def test_max_batch_size_and_remote_code_reach_the_model(run_cli, pair_dirs, tmp_path, monkeypatch):
    seen = {}
    create = TucoScaledLM.create_from_arg_string.__func__

    def spy(cls, arg_string, additional_config=None):
        seen.update(args=arg_string, extra=dict(additional_config or {}))
        return create(cls, arg_string, additional_config)

    monkeypatch.setattr(TucoScaledLM, "create_from_arg_string", classmethod(spy))
    _sweep(run_cli, pair_dirs, tmp_path / "o", "--batch_size", "auto", "--max_batch_size", "2",
           "--trust_remote_code")
    assert seen["extra"]["max_batch_size"] == 2 and seen["extra"]["batch_size"] == "auto"
    assert seen["args"].endswith(",trust_remote_code=True")
    assert read_run_info(tmp_path / "o").model_args.endswith(",trust_remote_code=True")


@pytest.mark.parametrize("seed, says", [("1,2", "one value or four"), ("x", "an integer or four")])
def test_a_bad_seed_is_one_line(run_cli, seed, says, tmp_path):
    code, _, err = run_cli(["sweep", "--model_args", "pretrained=F,base=P", "--tasks", "t",
                            "--output_path", tmp_path / "o", "--seed", seed])
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
