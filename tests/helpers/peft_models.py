"""A tiny pair's base model and LoRA adapters put on it (seeded), with the token ids they are run on
(test_adapters.py, test_block_reuse.py, test_silent_paths.py)."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

IDS = torch.tensor([[1, 5, 9, 14, 33, 60, 7, 8], [1, 40, 41, 3, 22, 17, 90, 2]])


def load_base(pair_dirs):
    """The base model of the `pair_dirs` fixture's (fine-tuned, base) folders, in eval mode."""
    return AutoModelForCausalLM.from_pretrained(pair_dirs[1]).eval()


def lora_model(base, seed=3, **config):
    """`base` with a seeded LoRA adapter (q_proj, v_proj unless `config` says otherwise); its
    modules_to_save, if any, perturbed."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    lora = dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, LoraConfig(**{**lora, **config}))
    with torch.no_grad():  # a saved copy equal to the original could not tell base from adapter
        for name, p in model.named_parameters():
            if ".modules_to_save." in name:
                p.add_(torch.randn_like(p) * 0.5 * p.std())
    return model.eval()
