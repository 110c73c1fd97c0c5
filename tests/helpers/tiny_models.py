"""Tiny random decoder pairs for every architecture tuco-eval supports (built offline, seeded)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import transformers as tf

from tuco_eval.core.layers import find_blocks

VOCAB = 96
FIXTURE_TASKS = str(Path(__file__).parents[1] / "fixtures" / "tasks")  # tiny lm-eval tasks
COMMON = dict(vocab_size=VOCAB, max_position_embeddings=256)
LLAMA_LIKE = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=2, **COMMON,
)

# architecture name -> (config factory, model class, attention implementation)
ARCHITECTURES = {
    "llama": (lambda: tf.LlamaConfig(**LLAMA_LIKE), tf.LlamaForCausalLM, "sdpa"),
    "mistral": (lambda: tf.MistralConfig(sliding_window=6, **LLAMA_LIKE), tf.MistralForCausalLM, "sdpa"),
    "qwen2": (lambda: tf.Qwen2Config(**LLAMA_LIKE), tf.Qwen2ForCausalLM, "sdpa"),
    "qwen3": (lambda: tf.Qwen3Config(head_dim=16, **LLAMA_LIKE), tf.Qwen3ForCausalLM, "sdpa"),
    "gemma": (lambda: tf.GemmaConfig(head_dim=16, **LLAMA_LIKE), tf.GemmaForCausalLM, "sdpa"),
    "gemma2": (
        lambda: tf.Gemma2Config(head_dim=16, sliding_window=6, **LLAMA_LIKE),
        tf.Gemma2ForCausalLM,
        "eager",
    ),
    "gemma3": (
        lambda: tf.Gemma3TextConfig(head_dim=16, sliding_window=6, **LLAMA_LIKE),
        tf.Gemma3ForCausalLM,
        "eager",
    ),
    "phi3": (
        lambda: tf.Phi3Config(pad_token_id=0, bos_token_id=1, eos_token_id=2, **LLAMA_LIKE),
        tf.Phi3ForCausalLM,
        "sdpa",
    ),
    "gpt2": (
        lambda: tf.GPT2Config(n_embd=64, n_layer=3, n_head=4, n_positions=256, vocab_size=VOCAB),
        tf.GPT2LMHeadModel,
        "sdpa",
    ),
    "gpt_neox": (
        lambda: tf.GPTNeoXConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            use_parallel_residual=True, rotary_pct=0.5, **COMMON,
        ),
        tf.GPTNeoXForCausalLM,
        "sdpa",
    ),
    "olmo2": (lambda: tf.Olmo2Config(**LLAMA_LIKE), tf.Olmo2ForCausalLM, "sdpa"),
}


def make_model(arch: str, seed: int = 0) -> tf.PreTrainedModel:
    config_factory, model_class, attn = ARCHITECTURES[arch]
    torch.manual_seed(seed)
    config = config_factory()
    config._attn_implementation = attn
    return model_class(config).eval()


def finetune(base: tf.PreTrainedModel, seed: int = 1, scale: float = 0.3) -> tf.PreTrainedModel:
    """A 'fine-tuned' copy: decoder blocks perturbed by seeded noise, and also everything outside
    them (embeddings, final norm, LM head) a little, so a test sees whose embedding and head ran."""
    ft = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(seed)
    blocks = find_blocks(ft)
    in_blocks = {id(p) for p in blocks.parameters()}
    with torch.no_grad():
        for p in blocks.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale * (p.std() if p.numel() > 1 else 1.0))
        for p in ft.parameters():  # tied embedding and head: one tensor, perturbed once
            if id(p) not in in_blocks:
                spread = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0  # norms: all 1
                p.add_(torch.randn(p.shape, generator=gen) * OUTSIDE_SCALE * spread)
    return ft.eval()


OUTSIDE_SCALE = 0.1  # noise on the embeddings, final norm and head, relative to their spread


def make_pair(arch: str, seed: int = 0) -> tuple[tf.PreTrainedModel, tf.PreTrainedModel]:
    """(fine-tuned, base) of one architecture, differing in every weight (blocks most)."""
    base = make_model(arch, seed)
    return finetune(base, seed + 1), base


def make_hybrid(ft: tf.PreTrainedModel, base: tf.PreTrainedModel) -> tf.PreTrainedModel:
    """The base's blocks (and config) under the fine-tuned embedding, final norm and head: what the
    joint pass computes at α = 0, built by copying weights, without tuco-eval's hooks."""
    hybrid = copy.deepcopy(base)
    blocks = find_blocks(base)
    prefix = next(name for name, module in base.named_modules() if module is blocks) + "."
    outside = {k: v for k, v in ft.state_dict().items() if not k.startswith(prefix)}
    missing, unexpected = hybrid.load_state_dict(outside, strict=False)
    assert not unexpected and all(k.startswith(prefix) for k in missing)
    return hybrid.eval()


# --- a tokenizer trained here, and pairs saved as local folders --------------------------------

CORPUS = [
    "Is the following statement something you would say? Yes No",
    "The following are multiple choice questions (with answers) about algebra. A B C D Answer:",
    "the quick brown fox jumps over the lazy dog 0 1 2 3 4 5 6 7 8 9 . , ? ! \" ' ( ) : ;",
    "Question: what is fine-tuning? It changes a pre-trained model with new data.",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tokenizer(vocab_size: int = VOCAB):
    """A small BPE tokenizer with BOS, a pad token and a chat template, trained offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_pair(root, arch: str = "llama", seed: int = 0):
    """Write (fine-tuned, base) folders with weights and tokenizer under `root`; return their paths."""
    from pathlib import Path

    ft, base = make_pair(arch, seed)
    tokenizer = make_tokenizer()
    paths = []
    for name, model in (("finetuned", ft), ("base", base)):
        folder = Path(root) / name
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        paths.append(str(folder))
    return tuple(paths)
