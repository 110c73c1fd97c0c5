"""Pairs whose configs differ above the blocks (test_positions.py, test_silent_paths.py): a
builder, the token ids they are run on, and log-likelihood requests sharing a long prefix."""

from __future__ import annotations

import torch
import transformers as tf

IDS = torch.randint(3, 90, (2, 24), generator=torch.Generator().manual_seed(0))


def pair_with_configs(model_class, ft_config, base_config, seed=0):
    """(fine-tuned, base): the base random; the fine-tuned one its weights with every parameter
    perturbed, embedding, final norm and head included, under its own config."""
    for config in (ft_config, base_config):
        config._attn_implementation = "eager" if model_class is tf.Gemma2ForCausalLM else "sdpa"
    torch.manual_seed(seed)
    base = model_class(base_config).eval()
    ft = model_class(ft_config).eval()
    ft.load_state_dict(base.state_dict())
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in ft.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3 * (p.std() if p.numel() > 1 else 1.0))
    return ft, base


def shared_prefix_requests():
    """lm-eval token requests: four documents sharing a 70-token prefix, continuations of 1 and 3 tokens."""
    gen = torch.Generator().manual_seed(0)
    shared = torch.randint(3, 90, (70,), generator=gen).tolist()
    return [(("", ""), shared + torch.randint(3, 90, (2 + doc,), generator=gen).tolist(),
             torch.randint(3, 90, (length,), generator=gen).tolist()) for doc in range(4) for length in (1, 3)]
