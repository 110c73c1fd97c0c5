"""lm-eval output folders written from given per-doc scores, without running a model: the files
`lm_eval --log_samples --output_path DIR` writes (lm-eval 0.4.13), with its key structure taken
from a folder tests/helpers/lm_eval_folders.py's builder wrote and from lm_eval/evaluator.py and
lm_eval/loggers/evaluation_tracker.py: `DIR/<sanitised model>/results_<date>.json` and a
`samples_<task>_<date>.jsonl` per task. Each task is a generation task scored per doc (DROP's
kind: `process_results` gives the metric, aggregated by its mean); the tasks form one group
lm-eval aggregates weighted by size. Figures are computed with lm-eval's own functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from lm_eval.api.metrics import aggregate_subtask_metrics, mean, mean_stderr, pooled_sample_stderr
from lm_eval.utils import hash_string, sanitize_model_name

DATE_ID = "2026-12-04T12-00-00.000000"
GENERATION = {"until": ["\n"], "do_sample": False}


PASSAGE = 4  # docs per passage: the field a cluster can be named by (`passage`)


def _doc(task: str, doc_id: int) -> dict:
    return {"question": f"{task}: question {doc_id}?", "answer": f"answer {doc_id}",
            "passage": doc_id // PASSAGE}


def _config(task: str, metric: str) -> dict:
    return {
        "task": task,
        "dataset_path": f"org/{task}",
        "test_split": "test",
        "doc_to_text": "{{question}}\nAnswer:",
        "doc_to_target": "answer",
        "unsafe_code": False,
        "process_results": f"def process_results(doc, results):\n    return {{'{metric}': score(doc, results[0])}}\n",
        "description": "",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "num_fewshot": 0,
        "metric_list": [{"metric": metric, "aggregation": "mean", "higher_is_better": True}],
        "output_type": "generate_until",
        "generation_kwargs": GENERATION,
        "repeats": 1,
        "should_decontaminate": False,
        "metadata": {"version": 1.0},
    }


def _sample(task: str, doc_id: int, metric: str, value: float) -> dict:
    doc = _doc(task, doc_id)
    prompt = f"{doc['question']}\nAnswer:"
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": doc["answer"],
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": GENERATION}},
        "resps": [[f" guess {doc_id}"]],
        "filtered_resps": [f" guess {doc_id}"],
        "filter": "none",
        "metrics": [metric],
        "doc_hash": hash_string(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": hash_string(prompt),
        "target_hash": hash_string(doc["answer"]),
        metric: value,
    }


def write_lm_eval_run(
    output_path: Path, model_args: str, group: str, scores: Mapping[str, np.ndarray], metric: str
) -> Path:
    """The folder lm-eval would write for a run of `group` (its tasks `scores`' keys, each doc d
    of task t scoring `scores[t][d]`); returns the results JSON's path."""
    model = model_args.partition("pretrained=")[2].split(",")[0]
    folder = Path(output_path) / sanitize_model_name(model)
    folder.mkdir(parents=True)
    key, stderr_key = f"{metric},none", f"{metric}_stderr,none"
    results, task_hashes = {}, {}
    for task, values in scores.items():
        samples = [_sample(task, d, metric, float(v)) for d, v in enumerate(values)]
        lines = [json.dumps(s, ensure_ascii=False) + "\n" for s in samples]
        (folder / f"samples_{task}_{DATE_ID}.jsonl").write_text("".join(lines), encoding="utf-8")
        task_hashes[task] = hash_string(
            "".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in samples)
        )
        items = [float(v) for v in values]
        results[task] = {"name": task, "alias": task, "sample_len": len(items),
                         key: mean(items), stderr_key: mean_stderr(items)}  # fmt: skip
    sizes = [results[t]["sample_len"] for t in scores]
    aggregate = {
        "alias": group, "name": group, "sample_len": sum(sizes),
        key: aggregate_subtask_metrics([results[t][key] for t in scores], sizes, weight_by_size=True),
        stderr_key: float(pooled_sample_stderr([results[t][stderr_key] for t in scores], sizes)),
        "sample_count": {key: sum(sizes)},
    }  # fmt: skip
    tasks = sorted(scores)
    record = {
        "results": {**results, group: aggregate},
        "groups": {group: aggregate},
        "group_subtasks": {group: list(scores)},
        "configs": {t: _config(t, metric) for t in tasks},
        "versions": {**{t: 1.0 for t in tasks}, group: "1.0"},
        "n-shot": {**{t: 0 for t in tasks}, group: 0},
        "higher_is_better": {t: {metric: True} for t in [*tasks, group]},
        "n-samples": {t: {"original": len(scores[t]), "effective": len(scores[t])} for t in scores},
        "config": {
            "model": "hf",
            "model_args": model_args,
            "model_num_parameters": 123328,
            "model_dtype": "torch.bfloat16",
            "model_revision": "main",
            "model_sha": "",
            "batch_size": 8,
            "batch_sizes": [],
            "device": "cuda:0",
            "use_cache": None,
            "limit": None,
            "bootstrap_iters": 100000,
            "gen_kwargs": None,
            "random_seed": 0,
            "numpy_seed": 1234,
            "torch_seed": 1234,
            "fewshot_seed": 1234,
        },
        "git_hash": None,
        "date": 1796428800.0,
        "pretty_env_info": "PyTorch version: 2.13.0",
        "transformers_version": "5.25.0",
        "lm_eval_version": "0.4.13",
        "upper_git_hash": None,
        "tokenizer_pad_token": ["<pad>", "0"],
        "tokenizer_eos_token": ["</s>", "2"],
        "tokenizer_bos_token": ["<s>", "1"],
        "eot_token_id": 2,
        "max_length": 2048,
        "task_hashes": task_hashes,
        "model_source": "hf",
        "model_name": model,
        "model_name_sanitized": sanitize_model_name(model),
        "system_instruction": None,
        "system_instruction_sha": None,
        "fewshot_as_multiturn": True,
        "chat_template": None,
        "chat_template_sha": None,
        "total_evaluation_time_seconds": "12.5",
    }
    path = folder / f"results_{DATE_ID}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
