"""What storing each doc's TuCo at α = 1 (the sweep's default) adds to a 7-α sweep.

At α = 1 without TuCo the fine-tuned model runs alone (and shares few-shot prefixes); storing
TuCo there runs the joint pass once more, on the plain path. Two lm-eval tasks written here
(multiple choice over a word-level tokenizer): zero-shot (100-word questions) and 5-shot (the
same five shots before every 40-word question, where prefix reuse matters). `tuco_eval.sweeps.alphas`
over the paper's seven α, with `tuco_at_alpha_one` on and off, round-robin, into fresh RUN_DIRs;
CPU seconds of this process (medians).
Mid-size random Llama (8 blocks, hidden 512, vocabulary 32,000), CPU, float32, batch 8, one
torch thread by default. Last line: `ratio: <sweep with TuCo at α=1 / sweep without>`, both tasks.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch

from common import interleaved_medians, joint_of, mid_size_pair, parser
from tuco_eval.core.pair import Pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.units import read_unit
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.params import PAPER_ALPHAS

VOCAB = 32000
TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    train: {shots}
    test: {docs}
test_split: test
fewshot_split: train
fewshot_config:
  sampler: first_n
output_type: multiple_choice
doc_to_text: "{{{{question}}}} Answer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
num_fewshot: {shots_n}
"""


def word_tokenizer():
    """One token per word `w<i>` (i < 32,000), whitespace-split: any text the tasks hold encodes."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "Answer:": 4, **{f"w{i}": i for i in range(5, VOCAB)}}
    words = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>")


def write_task(folder: Path, name: str, docs: int, words: int, shots: int, rng: random.Random) -> None:
    def doc() -> dict:
        return {"question": " ".join(f"w{rng.randrange(5, VOCAB)}" for _ in range(words)),
                "choices": [f"w{c}" for c in (10, 11, 12, 13)], "label": rng.randrange(4)}

    for split, n in (("train", max(shots, 1)), ("test", docs)):
        (folder / f"{name}_{split}.jsonl").write_text("".join(json.dumps(doc()) + "\n" for _ in range(n)))
    (folder / f"{name}.yaml").write_text(TASK_YAML.format(
        name=name, shots=folder / f"{name}_train.jsonl", docs=folder / f"{name}_test.jsonl", shots_n=shots))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    from lm_eval.tasks import TaskManager

    # --quick: 3 α around 1 (the unit that stores TuCo among them), 4 docs, one warm-up round
    docs, repeats, warmups, alphas = (4, 1, 1, (0.9, 1.0, 1.1)) if args.quick else (40, 3, 2, PAPER_ALPHAS)
    work = Path(tempfile.mkdtemp(prefix="tuco-bench-"))
    rng = random.Random(0)
    write_task(work, "bench_zero_shot", docs, 100, 0, rng)
    write_task(work, "bench_five_shot", docs, 40, 5, rng)
    settings = EvalSettings(TaskManager(include_path=str(work), include_defaults=False))
    ft, base = mid_size_pair()
    lm = TucoScaledLM.from_pair(Pair(ft, word_tokenizer(), base, joint_of(ft, base, alpha=1.0)),
                                batch_size=8, device="cpu")
    runs = iter(range(10**6))

    def timed(task: str, tuco: bool):
        def run() -> None:
            run_dir = work / f"run-{next(runs)}"
            sweep(lm, [task], run_dir, settings=settings, alphas=alphas, progress=False,
                  tuco_at_alpha_one=tuco)
            assert all(("tuco" in r) == tuco for r in read_unit(run_dir, 1.0, task))
            shutil.rmtree(run_dir)
        return run

    cases = {(task, tuco): timed(task, tuco) for task in ("bench_zero_shot", "bench_five_shot")
             for tuco in (False, True)}
    started = time.perf_counter()
    # CPU seconds of this process (one torch thread): the figure least moved by other jobs
    times = interleaved_medians({f"{t} tuco={x}": fn for (t, x), fn in cases.items()}, repeats,
                                clock=time.process_time, warmups=warmups)
    shutil.rmtree(work)
    for task in ("bench_zero_shot", "bench_five_shot"):
        without, with_tuco = times[f"{task} tuco=False"], times[f"{task} tuco=True"]
        print(f"{task:>16}: {len(alphas)}-α sweep of {docs} docs {without:6.2f} CPU s without TuCo, {with_tuco:6.2f} s "
              f"with TuCo at α=1 ({with_tuco / without:.3f} x)")
    total_without = sum(v for k, v in times.items() if k.endswith("False"))
    total_with = sum(v for k, v in times.items() if k.endswith("True"))
    print(f"(bench wall time {time.perf_counter() - started:.0f} s)")
    print(f"ratio: {total_with / total_without:.3f}")


if __name__ == "__main__":
    main()
