"""`tuco-eval report` and `cv` over lm-eval's own output folders (`lm_eval --log_samples
--output_path`), written by lm-eval itself (tests/helpers/lm_eval_folders.py) from tiny models.

Checked against the results JSON lm-eval wrote, scipy's exact McNemar test on the per-doc
correctness read straight from the samples files, the same checkpoints swept as a ROOT, and
`tuco-eval sweep` + `cv` of the same α grid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scipy.stats import binomtest
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.helpers.lm_eval_folders import lm_eval_run
from tests.helpers.tiny_models import finetune
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.series import sweep_checkpoints
from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions

TASKS = ["tiny_weighted", "tiny_numbers"]  # a group weighted by size (12 + 5 docs), two filters
STEPS = (1, 2, 3)
ALPHAS = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5)
LIMIT = 8  # docs per task (tiny_mc_small has 5)


@pytest.fixture(scope="module")
def checkpoints(pair_dirs, tmp_path_factory):
    """runs/checkpoint-{1,2,3} (full models over the pair's base) and the base folder."""
    root = tmp_path_factory.mktemp("ckpts")
    base = AutoModelForCausalLM.from_pretrained(pair_dirs[1]).eval()
    tokenizer = AutoTokenizer.from_pretrained(pair_dirs[1])
    folders = []
    for step in STEPS:
        folder = root / "runs" / f"checkpoint-{step}"
        finetune(base, seed=step, scale=0.3 * step).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(str(folder))
    return folders, pair_dirs[1]


@pytest.fixture(scope="module")
def hf_folders(checkpoints, task_manager, tmp_path_factory):
    """`lm_eval --model hf --log_samples --output_path out/<name>` per checkpoint and the base."""
    out = tmp_path_factory.mktemp("lm_eval_out")
    folders, base = checkpoints
    paths = []
    for name, model in [*zip((f"step-{s}" for s in STEPS), folders, strict=True), ("base", base)]:
        lm_eval_run(out / name, "hf", f"pretrained={model}", TASKS, task_manager, limit=LIMIT)
        paths.append(out / name)
    return paths


@pytest.fixture(scope="module")
def board(hf_folders, tmp_path_factory):
    from tuco_eval.pipeline.report import report

    out = tmp_path_factory.mktemp("report")
    said: list[str] = []
    files = report(hf_folders, out, say=said.append)
    return json.loads((out / "leaderboard.json").read_text()), files, said


def _results(folder: Path) -> dict:
    return json.loads(next(folder.glob("*/results_*.json")).read_text())


def _correct(folder: Path, task: str, filter: str, metric: str) -> dict[int, float]:
    """Per doc, the metric lm-eval logged under `filter`, read from the samples file by hand."""
    results = next(folder.glob("*/results_*.json"))
    path = results.with_name(f"samples_{task}_{results.stem.removeprefix('results_')}.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {s["doc_id"]: s[metric] for s in lines if s["filter"] == filter}


def test_rows_are_the_results_json(board, hf_folders):
    leaderboard, _, said = board
    rows = {r["label"]: r for r in leaderboard["rows"]}
    assert [r["label"] for r in leaderboard["rows"]] == ["base", "step-1", "step-2", "step-3"]
    assert [r["step"] for r in leaderboard["rows"]] == [None, 1, 2, 3]
    assert rows["base"]["kind"] == "base" and said == []
    for label, folder in zip(("step-1", "step-2", "step-3", "base"), hf_folders, strict=True):
        results = _results(folder)["results"]
        row = rows[label]
        cells = {
            "tiny_mc": ("tiny_mc", "acc,none"),
            "tiny_mc_small": ("tiny_mc_small", "acc,none"),
            "tiny_numbers,strict-match": ("tiny_numbers", "exact_match,strict-match"),
            "tiny_numbers,flexible-extract": ("tiny_numbers", "exact_match,flexible-extract"),
        }
        for name, (task, key) in cells.items():
            entry = row["tasks"][name]
            assert entry["score"] == pytest.approx(results[task][key], abs=1e-12)
            stderr_key = key.replace(",", "_stderr,")
            assert entry["stderr"] == pytest.approx(results[task][stderr_key], abs=1e-12)
            assert entry["tuco"] is None
        group = row["groups"]["tiny_weighted"]  # lm-eval's size-weighted mean and pooled stderr
        assert group["score"] == pytest.approx(results["tiny_weighted"]["acc,none"], abs=1e-12)
        assert group["stderr"] == pytest.approx(results["tiny_weighted"]["acc_stderr,none"], abs=1e-12)
        assert group["n"] == LIMIT + 5 and row["tasks"]["tiny_mc"]["n"] == LIMIT


def test_pairs_are_exact_mcnemar_on_the_samples(board, hf_folders):
    leaderboard, _, _ = board
    folder_of = dict(zip(("step-1", "step-2", "step-3", "base"), hf_folders, strict=True))
    checked = 0
    for pair in leaderboard["pairs"]:
        if pair["level"] != "task":
            continue
        task, _, filter = pair["task"].partition(",")
        metric = "exact_match" if task == "tiny_numbers" else "acc"
        a = _correct(folder_of[pair["a"]], task, filter or "none", metric)
        b = _correct(folder_of[pair["b"]], task, filter or "none", metric)
        only_a = sum(a[d] == 1 and b[d] == 0 for d in a)
        only_b = sum(b[d] == 1 and a[d] == 0 for d in a)
        expected = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        assert pair["test"] == "mcnemar" and pair["p"] == pytest.approx(expected, abs=1e-12)
        assert pair["diff"] == pytest.approx((only_b - only_a) / len(a), abs=1e-12)
        checked += 1
    assert checked == 4 * 6  # 4 result rows × 6 pairs of 4 rows
    assert any(p["p"] < 1 for p in leaderboard["pairs"])  # some pair differs


def test_series_figure_by_step(board):
    _, files, _ = board
    svg = next(f for f in files if f.name == "checkpoint_series.svg")
    assert "training step" in svg.read_text()


def test_a_sweep_root_and_lm_eval_folders_give_the_same_board(checkpoints, hf_folders, board, task_manager,
                                                               tmp_path):
    from tuco_eval.pipeline.report import report

    folders, base = checkpoints
    root = tmp_path / "root"
    sweep_checkpoints(folders, TASKS, root, model_args=f"base={base}",
                      settings=EvalSettings(task_manager, limit=LIMIT), grid=Grid(alphas=[1.0]),
                      model_options=ModelOptions(batch_size=4), progress=False)
    report([root], tmp_path / "swept")
    swept = json.loads((tmp_path / "swept" / "leaderboard.json").read_text())
    lm_eval = board[0]
    kept = ("label", "step", "kind", "source")
    assert [{k: r[k] for k in kept} for r in swept["rows"]] == [{k: r[k] for k in kept} for r in lm_eval["rows"]]
    for ours, theirs in zip(swept["rows"], lm_eval["rows"], strict=True):
        for level in ("tasks", "groups"):
            assert ours[level].keys() == theirs[level].keys()
            for name, cell in ours[level].items():
                other = theirs[level][name]
                assert (cell["metric"], cell["n"]) == (other["metric"], other["n"])
                for key in ("score", "stderr"):
                    assert cell[key] == pytest.approx(other[key], abs=1e-12), (ours["label"], name, key)
    assert len(swept["pairs"]) == len(lm_eval["pairs"])
    for ours, theirs in zip(swept["pairs"], lm_eval["pairs"], strict=True):
        assert {k: v for k, v in ours.items() if not isinstance(v, (float, list))} == {
            k: v for k, v in theirs.items() if not isinstance(v, (float, list))}
        for key in ("diff", "p", "p_holm"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-12)
        assert ours["ci"] == pytest.approx(theirs["ci"], abs=1e-12)


def test_lm_eval_alpha_runs_cross_validate_as_the_sweep(pair_dirs, task_manager, tmp_path, run_cli):
    ft, base = pair_dirs
    tasks, limit = ["tiny_weighted", "tiny_numbers"], 5  # 5 folds need 5 docs
    for alpha in ALPHAS:
        lm_eval_run(tmp_path / "lm" / f"alpha-{alpha}", "tuco_scaled", f"pretrained={ft},base={base},alpha={alpha}",
                    tasks, task_manager, limit=limit)
    lm = TucoScaledLM(pretrained=ft, base=base, device="cpu", batch_size=4)
    sweep(lm, tasks, tmp_path / "swept", alphas=ALPHAS, settings=EvalSettings(task_manager, limit=limit),
          progress=False)
    code, out, err = run_cli(["cv", tmp_path / "swept"])
    assert code == 0, err
    code, out, err = run_cli(["cv", "--output", tmp_path / "gathered",
                              *sorted((tmp_path / "lm").iterdir())])
    assert code == 0, err
    ours, theirs = (json.loads((tmp_path / d / "cv.json").read_text()) for d in ("gathered", "swept"))
    assert ours["tasks"].keys() == theirs["tasks"].keys() and len(ours["tasks"]) == 4
    assert ours["tasks"] == theirs["tasks"]  # Δ_CV, α per fold, CI, p: every figure
    assert ours["groups"] == theirs["groups"]
    # report takes the α folders as one swept row
    code, out, err = run_cli(["report", *sorted((tmp_path / "lm").iterdir()), "--output", tmp_path / "rep"])
    assert code == 0, err
    board = json.loads((tmp_path / "rep" / "leaderboard.json").read_text())
    assert [r["label"] for r in board["rows"]] == ["finetuned"]
    assert board["rows"][0]["tasks"]["tiny_mc"]["delta_cv"] == theirs["tasks"]["tiny_mc"]["delta_cv"]


def _as_alpha_run(folder: Path, to: Path, model_args: str) -> Path:
    """A copy of an lm-eval folder whose results say `--model tuco_scaled --model_args ...`."""
    shutil.copytree(folder, to)
    results_path = next(to.glob("*/results_*.json"))
    results = json.loads(results_path.read_text())
    results["config"].update(model="tuco_scaled", model_args=model_args)
    results_path.write_text(json.dumps(results))
    return to


def test_alpha_runs_not_of_one_pair_are_refused(hf_folders, tmp_path, run_cli):
    code, out, err = run_cli(["cv", "--output", tmp_path / "x", *hf_folders[:2]])
    assert code == 2 and "tuco_scaled" in err and len(err.strip().splitlines()) == 1
    a = _as_alpha_run(hf_folders[0], tmp_path / "a", "pretrained=ft,base=pt,alpha=0.9")
    b = _as_alpha_run(hf_folders[1], tmp_path / "b", "pretrained=ft,base=other,alpha=1.1")
    c = _as_alpha_run(hf_folders[2], tmp_path / "c", "pretrained=ft,base=pt,alpha=0.9,log_tuco=true")
    for runs, why in (((a, b), "different pairs"), ((a, c), "both alpha=0.9")):
        code, out, err = run_cli(["cv", "--output", tmp_path / "x", *runs])
        assert code == 2 and why in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def shots_and_limits(pair_dirs, task_manager, tmp_path_factory):
    out = tmp_path_factory.mktemp("settings")
    ft = pair_dirs[0]
    for name, kwargs in (("limit-20", {"limit": 20}), ("limit-30", {"limit": 30}),
                         ("shot-0", {"num_fewshot": 0, "limit": 4}), ("shot-5", {"num_fewshot": 5, "limit": 4})):
        lm_eval_run(out / name, "hf", f"pretrained={ft}", ["tiny_mc"], task_manager, **kwargs)
    return out


@pytest.mark.parametrize(("a", "b", "why"), [("limit-20", "limit-30", "limit 20 vs 30"),
                                              ("shot-0", "shot-5", "num_fewshot 0 vs 5")])
def test_runs_with_other_settings_are_refused(shots_and_limits, a, b, why, run_cli, tmp_path):
    code, out, err = run_cli(["report", shots_and_limits / a, shots_and_limits / b,
                              "--labels", f"{a},{b}", "--output", tmp_path])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert why in err and a in err and b in err


def test_allowed_different_prompts_are_marked(shots_and_limits, run_cli, tmp_path):
    code, out, err = run_cli(["report", shots_and_limits / "shot-0", shots_and_limits / "shot-5",
                              "--labels", "a,b", "--allow-different-prompts", "--output", tmp_path])
    assert code == 0, err
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["prompts"]["differ"] and "num_fewshot 0 vs 5" in board["prompts"]["differ"][0]
    assert "Paired despite different prompts" in (tmp_path / "index.html").read_text()


def test_newest_run_of_a_folder_unless_one_is_named(hf_folders, tmp_path, run_cli):
    folder = tmp_path / "step-1"
    shutil.copytree(hf_folders[0], folder)
    model = next(folder.iterdir())
    newest = next(model.glob("results_*.json"))
    older = model / "results_2000-01-01T00-00-00.000000.json"
    results = json.loads(newest.read_text())
    results["results"]["tiny_mc"]["acc,none"] = 0.123  # tells the two runs apart
    older.write_text(json.dumps(results))
    for sample in model.glob("samples_*.jsonl"):
        shutil.copy(sample, model / sample.name.replace(newest.stem.removeprefix("results_"),
                                                         "2000-01-01T00-00-00.000000"))
    code, out, err = run_cli(["report", folder, hf_folders[3], "--output", tmp_path / "a"])
    assert code == 0, err
    assert f"reading the newest {newest.name}" in out
    rows = json.loads((tmp_path / "a" / "leaderboard.json").read_text())["rows"]
    assert rows[1]["tasks"]["tiny_mc"]["score"] != 0.123
    code, out, err = run_cli(["report", older, hf_folders[3], "--output", tmp_path / "b"])
    rows = json.loads((tmp_path / "b" / "leaderboard.json").read_text())["rows"]
    assert code == 0 and rows[1]["tasks"]["tiny_mc"]["score"] == 0.123


def _sweep_run_dir(pair_dirs, task_manager, run_dir, num_fewshot):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    sweep(lm, ["tiny_mc"], run_dir, alphas=[1.0], settings=EvalSettings(task_manager, limit=5, num_fewshot=num_fewshot),
          progress=False)
    return run_dir


def test_run_dirs_of_other_shots_are_refused_and_old_ones_unchecked(pair_dirs, task_manager, tmp_path, run_cli):
    from tuco_eval.store.units import read_unit, write_unit

    zero = _sweep_run_dir(pair_dirs, task_manager, tmp_path / "zero-shot", 0)
    five = _sweep_run_dir(pair_dirs, task_manager, tmp_path / "five-shot", 5)
    assert all(len(r["prompt_hash"]) == 64 for r in read_unit(zero, 1.0, "tiny_mc"))  # lm-eval's sha256
    code, out, err = run_cli(["report", zero, five, "--output", tmp_path / "r"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert ("num_fewshot 5 vs 0" in err or "num_fewshot 0 vs 5" in err) and str(zero) in err and str(five) in err
    # the same settings but other prompts per doc: caught by the prompt hashes
    info = json.loads((five / "run.json").read_text())
    info["metadata"]["num_fewshot"] = 0
    (five / "run.json").write_text(json.dumps(info))
    code, out, err = run_cli(["report", zero, five, "--output", tmp_path / "r"])
    assert code == 2 and "the prompts of 5 of 5 docs" in err
    # a RUN_DIR swept before prompt hashes were stored: reported, said to be unchecked
    old = tmp_path / "old"
    shutil.copytree(zero, old)
    records = [{k: v for k, v in r.items() if k != "prompt_hash"} for r in read_unit(old, 1.0, "tiny_mc")]
    write_unit(old, 1.0, "tiny_mc", records)
    code, out, err = run_cli(["report", zero, old, "--output", tmp_path / "r"])
    assert code == 0, err
    assert "prompts could not be checked for " in out and "old" in out.split("could not be checked for ")[1]


def test_a_run_without_samples_is_refused(hf_folders, tmp_path, run_cli):
    folder = tmp_path / "no-samples"
    shutil.copytree(hf_folders[0], folder)
    for sample in folder.glob("*/samples_tiny_mc_*.jsonl"):
        sample.unlink()
    code, out, err = run_cli(["report", folder, hf_folders[3], "--output", tmp_path / "r"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--log_samples" in err


def test_a_chat_template_on_one_side_only_is_refused(pair_dirs, task_manager, tmp_path, run_cli):
    from tuco_eval.analysis.prompt_checks import run_dir_settings
    from tuco_eval.store.run_json import read_run_info

    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    sweep(lm, ["tiny_mc"], tmp_path / "chat", alphas=[1.0],
          settings=EvalSettings(task_manager, limit=5, apply_chat_template=True), progress=False)
    templated = lm_eval_run(tmp_path / "lm-chat", "hf", f"pretrained={pair_dirs[0]}", ["tiny_mc"], task_manager,
                            limit=5, apply_chat_template=True)
    lm_eval_run(tmp_path / "lm-plain", "hf", f"pretrained={pair_dirs[0]}", ["tiny_mc"], task_manager,
                limit=5)
    recorded = json.loads(next(templated.glob("results_*.json")).read_text())["chat_template_sha"]
    assert run_dir_settings(read_run_info(tmp_path / "chat"), "tiny_mc")["chat template"] == recorded
    code, out, err = run_cli(["report", tmp_path / "chat", tmp_path / "lm-chat", "--labels", "lm",
                              "--output", tmp_path / "a"])
    assert code == 0, err  # the same template and prompts: paired
    code, out, err = run_cli(["report", tmp_path / "chat", tmp_path / "lm-plain", "--labels", "lm",
                              "--output", tmp_path / "b"])
    assert code == 2 and "chat template" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("model_args", "expected"), [
    ("pretrained=runs/sft/checkpoint-1200,dtype=bfloat16", ("step-1200", "runs/sft/checkpoint-1200", 1200)),
    ("pretrained=EleutherAI/pythia-160m,revision=step1000", ("pythia-160m@step1000",
                                                             "EleutherAI/pythia-160m@step1000", 1000)),
    ("pretrained=org/pt,peft=adapters/checkpoint-8", ("step-8", "adapters/checkpoint-8", 8)),
    ("model=gpt-4o-mini,base_url=http://x", ("gpt-4o-mini", "gpt-4o-mini", None)),
    ("", ("folder", None, None)),
])
def test_labels_from_model_args(model_args, expected):
    from tuco_eval.util.lm_eval_labels import lm_eval_run_name

    name = lm_eval_run_name(model_args, "folder")
    assert (name.label, name.source, name.step) == expected


def test_tuco_where_the_run_logged_it(pair_dirs, task_manager, tmp_path, run_cli):
    ft, base = pair_dirs
    scaled = lm_eval_run(tmp_path / "scaled", "tuco_scaled", f"pretrained={ft},base={base},log_tuco=true",
                         ["tiny_mc"], task_manager, limit=5)
    lm_eval_run(tmp_path / "plain", "hf", f"pretrained={base}", ["tiny_mc"], task_manager, limit=5)
    code, out, err = run_cli(["report", tmp_path / "scaled", tmp_path / "plain", "--labels", "ft,pt",
                              "--output", tmp_path / "r"])
    assert code == 0, err
    rows = {r["label"]: r for r in json.loads((tmp_path / "r" / "leaderboard.json").read_text())["rows"]}
    samples = next(scaled.glob("samples_tiny_mc_*.jsonl")).read_text().splitlines()
    logged = [json.loads(line)["arguments"]["gen_args_0"]["arg_2"]["tuco"] for line in samples]
    assert rows["ft"]["tasks"]["tiny_mc"]["tuco"] == pytest.approx(sum(logged) / len(logged), abs=1e-12)
    assert rows["pt"]["tasks"]["tiny_mc"]["tuco"] is None


def test_a_vllm_or_api_run_reads_as_an_hf_run(hf_folders, board, tmp_path, run_cli):
    folders = []
    for model, args, folder in (("vllm", "pretrained=runs/checkpoint-1,tensor_parallel_size=1", hf_folders[0]),
                                ("local-completions", "model=org/pt,base_url=http://localhost:8000", hf_folders[3])):
        folders.append(tmp_path / model)
        shutil.copytree(folder, folders[-1])
        results_path = next(folders[-1].glob("*/results_*.json"))
        results = json.loads(results_path.read_text())
        results["config"].update(model=model, model_args=args)
        results_path.write_text(json.dumps(results))
    code, out, err = run_cli(["report", *folders, "--output", tmp_path / "r"])
    assert code == 0, err
    rows = json.loads((tmp_path / "r" / "leaderboard.json").read_text())["rows"]
    hf_rows = {r["label"]: r for r in board[0]["rows"]}
    assert [r["label"] for r in rows] == ["pt", "step-1"]
    assert rows[1]["tasks"] == hf_rows["step-1"]["tasks"] and rows[0]["tasks"] == hf_rows["base"]["tasks"]


def test_written_folders_have_the_layout_lm_eval_writes(hf_folders, tmp_path):
    """tests/helpers/lm_eval_files.py (the 30-row folders of test_lm_eval_families.py) against a folder
    lm-eval wrote: the same keys in the same places, hashes made as lm-eval makes them."""
    import numpy as np
    from lm_eval.utils import hash_string

    from tests.helpers.lm_eval_files import write_lm_eval_run

    real_path = next(hf_folders[3].glob("*/results_*.json"))
    real = json.loads(real_path.read_text())
    path = write_lm_eval_run(tmp_path, "pretrained=org/pt", "grp", {"ta": np.ones(3), "tb": np.zeros(3)}, "f1")
    written = json.loads(path.read_text())
    assert list(written) == list(real) and list(written["config"]) == list(real["config"])

    def plain(entry: dict) -> set[str]:  # the keys besides `metric,filter` figures
        return {k for k in entry if "," not in k}

    assert plain(written["results"]["ta"]) == plain(real["results"]["tiny_numbers"])
    assert plain(written["results"]["grp"]) == plain(real["results"]["tiny_weighted"])
    assert set(written["n-samples"]["ta"]) == set(real["n-samples"]["tiny_numbers"])
    assert written["configs"]["ta"].keys() >= {"metric_list", "num_fewshot", "output_type", "generation_kwargs"}
    real_sample = json.loads(real_path.with_name(f"samples_tiny_numbers_{real_path.stem[8:]}.jsonl")
                             .read_text().splitlines()[0])
    sample = json.loads(path.with_name(f"samples_ta_{path.stem[8:]}.jsonl").read_text().splitlines()[0])
    assert set(sample) - {"f1"} == set(real_sample) - set(real_sample["metrics"])
    for s in (real_sample, sample):  # lm-eval's hashes (evaluator.py), and a generation's arguments
        assert s["doc_hash"] == hash_string(json.dumps(s["doc"], indent=2, ensure_ascii=False))
        assert s["prompt_hash"] == hash_string(s["arguments"]["gen_args_0"]["arg_0"])
        assert s["target_hash"] == hash_string(s["target"])
        assert list(s["arguments"]["gen_args_0"]) == ["arg_0", "arg_1"] and isinstance(s["arguments"]["gen_args_0"]["arg_1"], dict)


def test_samples_are_read_as_a_stream_to_the_same_records(tmp_path):
    """The report keeps per doc its record, not the parsed line: one pass over a file read line by
    line gives the records and filters that the whole list gives; a line holding U+2028 (lm-eval
    writes text unescaped) is one line."""
    from tuco_eval.store.lm_eval_output import LmEvalRun, iter_samples
    from tuco_eval.store.sample_records import digest_samples, doc_record

    def sample(doc_id, filter_name, value):
        return {"doc_id": doc_id, "doc": {"q": f"line\u2028break {doc_id}"}, "filter": filter_name,
                "metrics": ["exact_match"], "exact_match": value, "doc_hash": f"h{doc_id}",
                "prompt_hash": f"p{doc_id}", "resps": [[f"answer\u2028{doc_id}"]], "arguments": {}}

    samples = [sample(d, f, float((d + i) % 2)) for i, f in enumerate(["strict", "flexible"]) for d in (2, 0, 1)]
    path = tmp_path / "samples_t_2026-12-04T12-00-00.000000.jsonl"
    path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
    run = LmEvalRun(tmp_path / "results_2026-12-04T12-00-00.000000.json", "2026-12-04T12-00-00.000000", {})
    streamed = iter_samples(run, "t")
    records, filters = digest_samples(streamed)
    assert next(streamed, None) is None  # consumed once, as it was read
    assert filters == ["strict", "flexible"]
    by_doc = {d: [s for s in samples if s["doc_id"] == d] for d in (0, 1, 2)}
    assert records == [doc_record(by_doc[d]) for d in (0, 1, 2)]
    assert records[1] == {"doc_id": 1, "doc_hash": "h1", "prompt_hash": "p1", "exact_match,strict": 1.0,
                          "exact_match,flexible": 0.0, "responses": ["answer\u20281"]}
