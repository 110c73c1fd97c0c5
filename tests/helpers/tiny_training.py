"""A real, tiny fine-tuning run with HF `Trainer` on the CPU: the tiny base of `tiny_models`
trained on a few sentences, saving `checkpoint-<step>` folders (full models or LoRA adapters).

Run as a script beside a watcher (`python tests/helpers/tiny_training.py BASE OUT ...`), as a trainer
runs beside `tuco-eval watch`. `--copy-to` keeps a copy of every checkpoint as it is saved (before
`save_total_limit` deletes it), to sweep them afterwards; `--pace ROOT` makes each save wait until
ROOT/watch.json has the previous checkpoint evaluated, as a trainer slower than its watcher would;
`--hold-after STEP --hold-file F` pauses after that step's save until F exists.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

SENTENCES = [
    "the cat sat on the mat", "a dog ran in the park", "the sun is bright today",
    "we read a book at night", "the river flows to the sea", "birds sing in the morning",
]


class _Saved(TrainerCallback):
    def __init__(self, out: Path, copy_to: Path | None, pace: Path | None, timeout: float,
                 hold: tuple[int, Path] | None = None):
        self.out, self.copy_to, self.pace, self.timeout, self.hold = out, copy_to, pace, timeout, hold
        self.previous: str | None = None

    def on_save(self, args, state, control, **kwargs):
        name = f"checkpoint-{state.global_step}"
        if self.copy_to is not None:
            shutil.copytree(self.out / name, self.copy_to / name)
        if self.pace is not None and self.previous is not None:
            _wait_evaluated(self.pace, self.previous, self.timeout)
        if self.hold is not None and state.global_step == self.hold[0]:
            _wait_for(self.hold[1], self.timeout)
        self.previous = name


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear in {timeout} s")
        time.sleep(0.2)


def _wait_evaluated(root: Path, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if name in json.loads((root / "watch.json").read_text())["evaluated"]:
                return
        except (FileNotFoundError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the watcher did not evaluate {name} in {timeout} s")


def train(base: str, out: Path, max_steps: int = 12, save_steps: int = 2, save_total_limit: int = 3,
          lora: bool = False, copy_to: Path | None = None, pace: Path | None = None,
          timeout: float = 300.0, hold: tuple[int, Path] | None = None) -> None:
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    rows = [tokenizer(s) for s in SENTENCES]
    data = [{"input_ids": r["input_ids"], "labels": r["input_ids"]} for r in rows]  # batches of 1: no padding
    args = TrainingArguments(
        output_dir=str(out), max_steps=max_steps, save_steps=save_steps,
        save_total_limit=save_total_limit or None,  # 0: keep every checkpoint
        per_device_train_batch_size=1, learning_rate=5e-3, report_to=[], use_cpu=True,
        logging_steps=1000, seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                      callbacks=[_Saved(out, copy_to, pace, timeout, hold)])
    trainer.train()
    trainer.save_model(str(out))  # the final model, in TRAIN_DIR itself: the watcher's stop signal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--save-steps", type=int, default=2)
    parser.add_argument("--save-total-limit", type=int, default=3)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--copy-to", type=Path, default=None)
    parser.add_argument("--pace", type=Path, default=None)
    parser.add_argument("--hold-after", type=int, default=None, help="after this step's save, wait ...")
    parser.add_argument("--hold-file", type=Path, default=None, help="... until this file exists")
    args = parser.parse_args()
    hold = (args.hold_after, args.hold_file) if args.hold_after is not None else None
    train(args.base, args.out, args.max_steps, args.save_steps, args.save_total_limit, args.lora,
          args.copy_to, args.pace, hold=hold)


if __name__ == "__main__":
    main()
