"""Train the demo's LoRA adapter on SmolLM2-135M-Instruct (GGUF), deterministically, on CPU.

Data: the demo task's own generated questions (`tuco_eval.demo.task`, split "train": half of
each category's words; the demo evaluates on the other half). Loss: cross-entropy of the
answer token only.
Writes the adapter (safetensors), a card (README.md) and the loss curve into --output.

    python scripts/train_demo_adapter.py --output tuco_eval/demo/adapter
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tuco_eval.demo.assets import GGUF_NAME, PACKAGE, fetch_base
from tuco_eval.demo.task import CHOICES, demo_docs, prompt


def answer_logprobs(model, tokenizer, docs):
    """Log-probabilities of each doc's two answers at the prompt's last token: [n, 2]."""
    choice_ids = [tokenizer(c, add_special_tokens=False).input_ids[0] for c in CHOICES]
    encoded = [tokenizer(prompt(d)).input_ids for d in docs]
    width = max(len(e) for e in encoded)
    ids = torch.zeros((len(docs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):  # left padding: the last position is every row's last token
        ids[i, width - len(e):], mask[i, width - len(e):] = torch.tensor(e), 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits[:, -1]
    return logits.log_softmax(-1)[:, choice_ids]


def accuracy(model, tokenizer, docs, batch=50) -> float:
    right = 0
    with torch.no_grad():
        for i in range(0, len(docs), batch):
            chunk = docs[i:i + batch]
            pred = answer_logprobs(model, tokenizer, chunk).argmax(-1)
            right += sum(int(p) == d["label"] for p, d in zip(pred, chunk, strict=True))
    return right / len(docs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", "--out", dest="out", type=Path, default=Path("tuco_eval/demo/adapter"))
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    folder, gguf = fetch_base()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    eval_docs = demo_docs(200, "eval", seed=0)
    base_accuracy = accuracy(model.eval(), tokenizer, eval_docs)
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"])
    model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    train_docs = demo_docs(args.steps * args.batch_size, "train", seed=args.seed)
    losses, start = [], time.time()
    model.train()
    for step in range(args.steps):
        batch = train_docs[step * args.batch_size:(step + 1) * args.batch_size]
        labels = torch.tensor([d["label"] for d in batch])
        loss = torch.nn.functional.nll_loss(answer_logprobs(model, tokenizer, batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(round(loss.item(), 5))
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time() - start:.0f} s)", flush=True)
    model.eval()
    tuned_accuracy = accuracy(model, tokenizer, eval_docs)
    model.peft_config["default"].base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model.save_pretrained(args.out)
    write_card(args, losses, base_accuracy, tuned_accuracy, time.time() - start)


def write_card(args, losses, base_accuracy, tuned_accuracy, seconds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(len(losses)), losses, lw=1.2)
    ax.set(title="Demo adapter: training loss", xlabel="step", ylabel="cross-entropy of the answer (nats)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "loss_curve.png", dpi=120)
    (args.out / "training_log.json").write_text(json.dumps({"losses": losses, "args": {
        k: str(v) for k, v in vars(args).items()}}, indent=1))
    (args.out / "README.md").write_text(f"""# tuco-eval demo adapter

A LoRA adapter on **SmolLM2-135M-Instruct** (Apache-2.0; the GGUF file `{GGUF_NAME}` of the PyPI
package `{PACKAGE}`), trained by this project so that the offline demo has a real
(pre-trained, fine-tuned) pair.

- **Data**: yes/no questions generated by `tuco_eval.demo.task`, "Is <thing> a kind of
  <category>?" over five categories (animal, fruit, vehicle, tool, colour), half of them " Yes"
  ({args.steps * args.batch_size} questions, split "train", seed {args.seed}). Training uses every other
  word of each category, the demo evaluates on the other half: no evaluation item was seen in
  training.
- **Objective**: cross-entropy of the answer token (" Yes" / " No") after "Question: ...\\nAnswer:".
- **LoRA**: rank {args.rank}, alpha {2 * args.rank}, no dropout, on q/k/v/o projections and the MLP down projection.
- **Optimiser**: AdamW, lr {args.lr}, {args.steps} steps of {args.batch_size}, float32, CPU,
  `torch.use_deterministic_algorithms(True)`; {seconds:.0f} s on a 2-core CPU.
- **Loss**: {losses[0]:.3f} at step 0, {sum(losses[-10:]) / 10:.3f} mean over the last 10 steps (`loss_curve.png`).
- **Accuracy on 200 evaluation docs**: base {base_accuracy:.3f}, base + adapter {tuned_accuracy:.3f}.

Reproduce: `python scripts/train_demo_adapter.py --output tuco_eval/demo/adapter --steps {args.steps} --batch-size {args.batch_size} --lr {args.lr} --rank {args.rank} --seed {args.seed}`
""")


if __name__ == "__main__":
    main()
