"""The base blocks' own positions and masks, when the base computes them differently above its blocks.

A decoder computes rotary tables, position ids and attention masks once, above its blocks, from
its own config (rope_theta, rope scaling, partial rotary, sliding windows, layer types), and hands
them to every block. The joint pass hands each base block the fine-tuned block's arguments, which
is exact only when the two configs agree on everything computed there. Where they differ,
`BasePositions` runs the base model's own code above the blocks for each pass, with the base
blocks' forwards swapped for recorders, and gives each base block the arguments it recorded.
No architecture is special-cased: whatever the base model computes for its blocks is what they get.
The base blocks' cache layers are then built from the base's config too (`cache_layers`), so a
cache continued by generation or prefix reuse keeps exactly the tokens each base block attends to.
Where the windows or layer types differ, the masks `generate` expands beforehand for a static cache
(for the fine-tuned config only) are traced back to their 2-D padding mask (`GenerateMasks`), from
which the base builds its own, here and in the logits mode's base pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers.cache_utils import Cache, get_layer_types_and_kwargs
from transformers.masking_utils import create_masks_for_generate

from tuco_eval.core.layers import find_blocks, unwrap
from tuco_eval.core.shared_cache import config_layers
from tuco_eval.util.errors import TucoError

# Config fields that cannot change what a model hands its blocks: names and storage, token ids,
# output switches, training-only settings, the embedding and head (the fine-tuned model's own by
# definition), and constants each block reads from its own model's config.
NOT_ABOVE_BLOCKS = frozenset({
    "name_or_path", "architectures", "transformers_version", "torch_dtype", "dtype", "auto_map",
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
    "tokenizer_class", "task_specific_params", "id2label", "label2id", "problem_type",
    "use_cache", "output_attentions", "output_hidden_states", "return_dict", "is_encoder_decoder",
    "initializer_range", "chunk_size_feed_forward", "attention_dropout", "hidden_dropout",
    "embd_pdrop", "resid_pdrop", "attn_pdrop", "dropout",
    "tie_word_embeddings", "final_logit_softcapping", "logits_scaling", "embedding_multiplier",
    "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "hidden_act", "attention_bias",
    "mlp_bias", "attn_logit_softcapping", "query_pre_attn_scalar", "attention_multiplier",
    "residual_multiplier",
})


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """A config as {field: value}, nested configs (text_config, ...) flattened as `text_config.x`."""
    flat: dict[str, Any] = {}
    for key, value in config.to_dict().items() if hasattr(config, "to_dict") else config.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict) and key.endswith("_config"):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def above_block_differences(finetuned: Any, base: Any) -> list[str]:
    """Config fields that differ between the two models and may change what the base hands its
    blocks (rope_parameters, sliding_window, layer_types, ... and any field not known to be inert)."""
    ft, pt = _flat(finetuned), _flat(base)
    differing = {k for k in ft.keys() | pt.keys() if ft.get(k) != pt.get(k)}
    return sorted(k for k in differing if k.rsplit(".", 1)[-1] not in NOT_ABOVE_BLOCKS)


def _mask_layout(config: Any) -> tuple[list[str], list[dict]]:
    """Per layer, its attention type and window: what, with padding, sets its mask."""
    return get_layer_types_and_kwargs(config.get_text_config(decoder=True))


def owner_of(blocks: nn.ModuleList, model: nn.Module) -> nn.Module:
    """The module holding the block list as a child: the one whose forward computes the block arguments."""
    for module in model.modules():
        if any(child is blocks for child in module.children()):
            return module
    raise RuntimeError(f"no module of {type(model).__name__} holds its block list")  # find_blocks found it in there


class _Recorded(Exception):
    """Raised by the last recorder: nothing after the blocks is needed."""


class BasePositions:
    """Per pass: the arguments the base model itself gives each of its blocks.

    A pre-hook on the fine-tuned module above the blocks keeps that call's arguments; `record`
    (before fine-tuned block 0 runs) replays them through the base's module above the blocks,
    whose blocks only record their arguments; `for_block` puts them into a base block call.
    """

    def __init__(self, finetuned: nn.Module, base: nn.Module, fields: list[str] | None = None):
        ft_blocks, self._base_blocks = find_blocks(finetuned), find_blocks(base)
        self._ft_owner = owner_of(ft_blocks, unwrap(finetuned))
        self._base_owner = owner_of(self._base_blocks, base)
        # the base's own cache layers (its windows, its layer types) for the shared cache
        self.cache_layers = config_layers(base.config)
        # whether the two models mask alike (same layer types and windows): then a mask computed
        # beforehand for the fine-tuned model (generate does so for a static cache) serves the base too
        self.same_masks = _mask_layout(unwrap(finetuned).config) == _mask_layout(base.config)
        self._masks = GenerateMasks(finetuned)  # otherwise the base builds its own from the 2-D mask
        self.fields = list(fields or [])  # the config fields that differ (named in refusals)
        self._call: tuple[tuple, dict] | None = None  # the fine-tuned owner's arguments, this pass
        self._recorded: list[tuple[tuple, dict] | None] = []

    def install(self, first_block: nn.Module, base_cache: Callable[[tuple, dict], Cache | None]) -> list[Any]:
        """Hooks for one `Joint.active` span; `base_cache(args, kwargs)` of block 0 is the base's cache."""

        def keep_call(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self._call = (args, dict(kwargs))

        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self.record(base_cache(args, kwargs))

        own_masks = [] if self.same_masks else self._masks.install()
        return [
            *own_masks,
            self._ft_owner.register_forward_pre_hook(keep_call, with_kwargs=True),
            first_block.register_forward_pre_hook(record, with_kwargs=True),
            _Clear(self),
        ]

    def record(self, cache: Cache | None) -> None:
        """Run the base above its blocks on this pass's arguments; keep what each block receives.

        `cache` (the base blocks' cache, nothing written to it yet in this pass) sizes the masks;
        without one the base makes its own empty cache, as the fine-tuned model did.
        """
        if self._call is None:
            raise RuntimeError("block 0 ran outside its model's forward")
        args, kwargs = self._call
        if not self.same_masks and "attention_mask" in kwargs:
            kwargs = {**kwargs, "attention_mask": self._masks.padding_mask(kwargs["attention_mask"])}
        swap = lambda v: cache if isinstance(v, Cache) and cache is not None else v  # noqa: E731
        args, kwargs = tuple(swap(a) for a in args), {k: swap(v) for k, v in kwargs.items()}
        self._recorded = [None] * len(self._base_blocks)
        saved = [block.__dict__.get("forward") for block in self._base_blocks]
        for index, block in enumerate(self._base_blocks):
            block.forward = self._recorder(index)  # an instance attribute: module.__call__ reads it
        try:
            self._base_owner(*args, **kwargs)
        except _Recorded:
            pass
        finally:
            for block, forward in zip(self._base_blocks, saved, strict=True):
                if forward is None:
                    del block.forward
                else:
                    block.forward = forward

    def _recorder(self, index: int) -> Callable:
        last = index == len(self._base_blocks) - 1

        def forward(*args: Any, **kwargs: Any) -> Any:
            self._recorded[index] = (args, kwargs)
            if last:
                raise _Recorded
            return args[0] if args else kwargs["hidden_states"]

        return forward

    def for_block(self, index: int, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Base block `index`'s call: its recorded arguments in place of the fine-tuned ones, except
        the hidden state and the cache, which stay the ones the joint pass gives it."""
        recorded = self._recorded[index] if index < len(self._recorded) else None
        if recorded is None:  # exact or refused: never the fine-tuned positions silently
            raise TucoError(f"the base model did not reach its block {index} in its own pass")
        rec_args, rec_kwargs = recorded
        keep = lambda ours, theirs: isinstance(ours, Cache) or isinstance(theirs, Cache)  # noqa: E731
        new_args = list(args)
        for i in range(1, min(len(args), len(rec_args))):
            if not keep(args[i], rec_args[i]):
                new_args[i] = rec_args[i]
        new_kwargs = dict(kwargs)
        for key, value in rec_kwargs.items():
            if key != "hidden_states" and not keep(kwargs.get(key), value):
                new_kwargs[key] = value
        return tuple(new_args), new_kwargs

    def clear(self) -> None:
        self._call, self._recorded = None, []


def _precomputed(mask: Any) -> bool:
    """A mask already expanded for one config's layers (4-D, or one per layer type), not a padding mask."""
    return isinstance(mask, dict) or getattr(mask, "ndim", 2) > 2


def _same_mask(mask: Any, made: Any) -> bool:
    if mask is made:
        return True
    if isinstance(mask, dict) and isinstance(made, dict):  # generate rebuilds the dict, same values
        return mask.keys() == made.keys() and all(_same_mask(mask[k], made[k]) for k in mask)
    return isinstance(mask, torch.Tensor) and isinstance(made, torch.Tensor) and mask.shape == made.shape \
        and bool(torch.equal(mask, made))  # .contiguous() may have copied it


class GenerateMasks:
    """The 2-D padding mask behind the masks `generate` computes beforehand for the fine-tuned model.

    For a static cache, `generate` expands the 2-D padding mask into the fine-tuned config's masks
    (its windows, its layer types) before each model call. A base whose windows differ builds its
    own from the 2-D mask, as in any other call: for one span the model's `create_masks_for_generate`
    is wrapped to keep the 2-D mask beside what it made.
    """

    def __init__(self, model: nn.Module):
        self.model = unwrap(model)  # the transformers model `generate` runs on
        self._made: tuple[Any, Any] | None = None  # (the masks made, the 2-D mask they came from)

    def install(self) -> list[Any]:
        """Handles whose `remove()` puts the model's own mask maker back."""
        model, own = self.model, self.model.__dict__.get("create_masks_for_generate")
        original = getattr(model, "create_masks_for_generate", create_masks_for_generate)

        def create(*args: Any, **kwargs: Any) -> Any:
            made = original(*args, **kwargs)
            self._made = (made, kwargs.get("attention_mask"))
            return made

        model.create_masks_for_generate = create  # an instance attribute: generate looks it up there
        return [_Restore(self, own)]

    def padding_mask(self, mask: Any) -> Any:
        """`mask` for a model that builds its own masks (once per model call): the 2-D mask `generate`
        made it from, else `mask` itself when 2-D or None; a mask expanded elsewhere is refused."""
        made, self._made = self._made, None  # one model call consumes what generate made for it
        if made is not None and _same_mask(mask, made[0]):  # None too: sdpa may skip an unpadded mask
            return made[1]
        if not _precomputed(mask):
            return mask
        raise TucoError(
            "an attention mask came expanded for the fine-tuned model's sliding windows, and the base's "
            "windows differ: pass the 2-D padding mask (generate's own expansion is handled)"
        )


class _Restore:
    """A handle whose `remove()` undoes `GenerateMasks.install`."""

    def __init__(self, masks: GenerateMasks, own: Any):
        self.masks, self.own = masks, own

    def remove(self) -> None:
        model = self.masks.model
        if self.own is None:
            model.__dict__.pop("create_masks_for_generate", None)
        else:
            model.create_masks_for_generate = self.own
        self.masks._made = None


class _Clear:
    """A handle whose `remove()` drops the tensors kept from the last pass."""

    def __init__(self, positions: BasePositions):
        self.positions = positions

    def remove(self) -> None:
        self.positions.clear()


def base_positions(finetuned: nn.Module, base: nn.Module | None) -> BasePositions | None:
    """A `BasePositions` where the two configs differ above the blocks; None (no cost) otherwise."""
    if base is None:  # a PEFT adapter shares the base's config
        return None
    fields = above_block_differences(unwrap(finetuned).config, base.config)
    if not fields:
        return None
    logging.getLogger("tuco_eval").info(
        "tuco-eval: the configs differ in %s: the base blocks get the base's own positions and masks",
        ", ".join(fields),
    )
    return BasePositions(finetuned, base, fields)

