"""`tuco_scaled`: lm-eval's HF model with the fine-tuning contribution scaled by α.

The pattern of lm-eval's `hf_steered.py`: HFLM loads the fine-tuned model and does batching,
padding, generation and accelerate; this class loads the base beside it and wraps the two model
entry points (`_model_call`, `_model_generate`) in the joint hooks. `alpha` is a plain attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from tuco_eval.core.batching import pad_batch
from tuco_eval.core.joint import Joint, NonFiniteError, TucoSums, nonfinite_error
from tuco_eval.core.nonfinite import (
    FiniteCacheHook,
    finite_answer,
    is_set,
    logits_flag,
    nonfinite,
    where_in,
)
from tuco_eval.core.pair import (
    check_adapter_base,
    check_configs,
    friendly_load,
    is_adapter_folder,
    join,
    load_base_model,
    load_tokenizer,
    pair_warnings,
    validate_pair,
)
from tuco_eval.core.scaling import Scaling
from tuco_eval.core.tuco import tuco_of_batch
from tuco_eval.harness.prefix import group_by_prefix
from tuco_eval.harness.prefix_scoring import PrefixScorer
from tuco_eval.harness.request_log import attach, log_measures, prompt_tokens
from tuco_eval.util.errors import TucoError, warn
from tuco_eval.util.params import (
    format_alpha,
    parse_alpha,
    parse_flag,
    parse_mode,
    warn_if_negative,
)


def _row_key(tokens: Any) -> bytes:
    """Identity of a right-padded input row: its tokens without trailing pad zeros (lm-eval pads with 0)."""
    values = list(tokens)
    while values and values[-1] == 0:
        values.pop()
    return hashlib.blake2b(repr(values).encode(), digest_size=16).digest()


@register_model("tuco_scaled")
class TucoScaledLM(HFLM):
    """HFLM over a (fine-tuned, base) pair; model_args: pretrained=FT, base=PT, alpha=1.0, ..."""

    def __init__(
        self,
        pretrained: Any,
        base: Any = None,
        alpha: Any = 1.0,
        base_revision: str | None = None,
        base_gguf_file: str | None = None,
        log_tuco: bool = False,
        adapter_base_check: bool = True,
        mode: str = "activation",
        log_kl: bool = False,
        prefix_reuse: Any = True,
        **kwargs: Any,
    ) -> None:
        if base is None:
            raise TucoError(
                "tuco_scaled needs the pre-trained model: add base=<Hub id or folder> to --model_args"
            )
        alpha, mode = parse_alpha(alpha), parse_mode(mode)
        warn_if_negative(alpha)
        trust = bool(kwargs.get("trust_remote_code", False))
        shared = False
        if isinstance(pretrained, str) and is_adapter_folder(pretrained):
            if adapter_base_check:
                check_adapter_base(pretrained, str(base))
            kwargs["peft"], pretrained = pretrained, base  # the adapter rides on the base weights
            if base_gguf_file and not kwargs.get("gguf_file"):
                kwargs["gguf_file"] = base_gguf_file
            shared = True
        elif kwargs.get("peft") and isinstance(base, str) and str(pretrained) == base:
            shared = True
        base_tokenizer = None
        if isinstance(base, str) and isinstance(pretrained, str) and not shared:
            # configs and tokenizers are compared before any weights load
            if isinstance(kwargs.get("tokenizer"), str):  # tokenizer=<name> in model_args
                kwargs["tokenizer"] = load_tokenizer(kwargs["tokenizer"], what="tokenizer",
                                                     trust_remote_code=trust)
            kwargs["tokenizer"], base_tokenizer = validate_pair(
                pretrained, base, revision=kwargs.get("revision"), gguf_file=kwargs.get("gguf_file"),
                base_revision=base_revision, base_gguf_file=base_gguf_file, trust_remote_code=trust,
                tokenizer=kwargs.get("tokenizer"))
        elif isinstance(base, str):
            base_tokenizer = load_tokenizer(base, what="base tokenizer", revision=base_revision,
                                            gguf_file=base_gguf_file, trust_remote_code=trust)
        friendly_load(
            lambda: super(TucoScaledLM, self).__init__(pretrained=pretrained, **kwargs),
            str(pretrained),
            "fine-tuned model",
        )
        if self.backend != "causal":
            raise TucoError("tuco_scaled supports decoder-only (causal) models only")
        if shared:
            base_model = None
        elif isinstance(base, str):
            base_model = load_base_model(
                base,
                like=self.model,
                revision=base_revision,
                gguf_file=base_gguf_file,
                trust_remote_code=trust,
            )
        else:
            check_configs(self.model.config, base.config)
            base_model = base.eval()
        for note in pair_warnings(self.model, base_model, self.tokenizer, base_tokenizer):
            warn(note)
        self._bind(base_model, join(self.model, base_model, alpha), log_tuco, mode, log_kl,
                   prefix_reuse)

    def _bind(self, base_model: Any, joint: Joint, log_tuco: Any, mode: str = "activation",
              log_kl: Any = False, prefix_reuse: Any = True) -> None:
        self.base_model = base_model
        self.joint = joint
        # the scaling mode (activation|logits|weights), switchable in place like α
        self.scaling = Scaling(self.model, base_model, self.joint, mode)
        self.log_tuco = parse_flag(log_tuco, "log_tuco")
        self.log_kl = parse_flag(log_kl, "log_kl")
        self._cache_path: str | None = None  # lm-eval's response cache, when --use_cache is on
        self._wanted: dict[bytes, set[int]] | None = None  # rows whose TuCo a log is waiting for
        self._found: dict[tuple[bytes, int], float] = {}
        self.prefix_reuse = parse_flag(prefix_reuse, "prefix_reuse")  # shared prefixes once (prefix.py)

    @classmethod
    def from_pair(cls, pair: Any, log_tuco: bool = False, mode: str = "activation", log_kl: bool = False,
                  prefix_reuse: Any = True, **hflm_kwargs: Any) -> TucoScaledLM:
        """A `tuco_scaled` over an already loaded `tuco_eval.core.pair.Pair` (nothing is loaded again)."""
        lm = cls.__new__(cls)
        HFLM.__init__(lm, pretrained=pair.model, tokenizer=pair.tokenizer, **hflm_kwargs)
        lm._bind(pair.base, pair.joint, log_tuco, parse_mode(mode), log_kl, prefix_reuse)
        return lm

    @property
    def alpha(self) -> float:
        return self.joint.alpha

    @alpha.setter
    def alpha(self, value: Any) -> None:
        alpha = parse_alpha(value)
        warn_if_negative(alpha)
        if self._cache_path is not None and alpha != self.joint.alpha:
            raise TucoError(
                f"lm-eval's response cache {self._cache_path} holds α={self.joint.alpha} answers; "
                f"changing α under it would reuse them: use one cache path per α"
            )
        self.joint.alpha = alpha

    @property
    def mode(self) -> str:
        return self.scaling.mode

    @mode.setter
    def mode(self, value: Any) -> None:
        self.scaling.mode = value  # in place; leaving `weights` restores θ_FT

    def set_cache_hook(self, cache_hook: Any) -> None:
        """lm-eval's `--use_cache` keys responses without α: demand a cache path that names it."""
        database = getattr(cache_hook, "dbdict", None)
        path = str(getattr(database, "filename", "")) if database is not None else ""
        if database is not None and f"alpha={format_alpha(self.alpha)}" not in path:
            raise TucoError(
                f"--use_cache with tuco_scaled must name α in its path, since lm-eval keys cached "
                f"answers without it: e.g. --use_cache cache/alpha={format_alpha(self.alpha)}"
            )
        self._cache_path = path or None
        super().set_cache_hook(FiniteCacheHook(cache_hook))  # a NaN answer is never stored for reuse

    def get_model_info(self) -> dict[str, Any]:
        return {**super().get_model_info(), "tuco_alpha": self.alpha, "tuco_log": self.log_tuco}

    # --- the two model entry points ---------------------------------------------------------

    @contextmanager
    def _scoring(self, sums: TucoSums | None = None) -> Iterator[None]:
        """One scoring pass: no gradients, lm-eval's autocast, the current mode at α."""
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
            self.scaling.active(sums),
        ):
            yield

    def _model_call(
        self, inps: torch.Tensor, attn_mask: Any = None, labels: Any = None
    ) -> torch.Tensor:
        sums = TucoSums() if self._wanted is not None else None
        with self._scoring(sums):
            logits = self.model(inps, use_cache=False).logits  # no KV cache to fill for scoring
        # activation mode: the blocks' own flags (no pass over the vocabulary-sized logits); every
        # log-likelihood is checked again before it goes back to lm-eval (_loglikelihood_tokens)
        bad = self.joint.any_nonfinite() if self.mode == "activation" else bool(nonfinite(logits))
        if bad:
            raise self._nonfinite("logits", [inps], tuco=sums is not None)
        if sums is not None:
            self._collect(inps, sums.tuco())
        return logits

    def _model_generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        tokens, flag = None, []
        try:
            with self.scaling.active(), logits_flag(self.model, flag):  # every step's output logits
                tokens = super()._model_generate(*args, **kwargs)
        except RuntimeError:  # e.g. sampling from NaN: the one-line error instead, where it applies
            self._check_generation(flag, args, kwargs, tokens)
            raise
        self._check_generation(flag, args, kwargs, tokens)
        return tokens

    def _check_generation(self, flag: list[torch.Tensor], args: tuple, kwargs: dict, tokens: Any) -> None:
        """The final check of a generation, every mode and α: a NonFiniteError if any step's logits
        (or, activation mode, any block output) held NaN/inf, located on the prompts or the output."""
        if not (is_set(flag) or self.joint.any_nonfinite()):
            return
        context, mask = kwargs.get("context", args[0] if args else None), kwargs.get("attention_mask")
        rows = [row if mask is None else row[mask[i].bool()] for i, row in enumerate(context)]
        if tokens is not None:  # the prompts with what was generated from them
            rows += [torch.cat([row, tokens[i, context.shape[1]:]]) for i, row in enumerate(rows)]
        raise self._nonfinite("logits during generation", [row[None] for row in rows])

    def _nonfinite(self, what: str, rows: Sequence[torch.Tensor], tuco: bool = False) -> NonFiniteError:
        """The one-line error naming α and the first block, final norm or head whose output held
        NaN/inf, found by running `rows` ([1 or B, T] ids) again in the current mode and α."""

        def rerun(ids: torch.Tensor) -> None:
            with self._scoring(TucoSums() if tuco else None):
                self.model(ids.to(self.device), use_cache=False)

        base = self.base_model if self.mode == "logits" else None
        return nonfinite_error(self.joint, what, where_in(rows, rerun, self.joint, base))

    # --- TuCo in logged samples -------------------------------------------------------------

    def _collect(self, inps: torch.Tensor, tuco: torch.Tensor) -> None:
        rows, values = inps.tolist(), tuco.float().cpu()
        for row, tokens in enumerate(rows):
            key = _row_key(tokens)
            for position in self._wanted.get(key, ()):
                self._found[(key, position)] = float(values[row, position])

    def _loglikelihood_tokens(
        self, requests: list, disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list:
        results = self._scored_tokens(requests, disable_tqdm, override_bs)
        self._check_answers(requests, results)
        return results

    def _check_answers(self, requests: list, results: list) -> None:
        """The final check on what goes back to lm-eval, every mode and α: each log-likelihood finite."""
        for (_, context, continuation), answer in zip(requests, results, strict=True):
            if not finite_answer(answer):
                row = (context + continuation)[-(self.max_length + 1) :][:-1]  # the row HFLM scored
                raise self._nonfinite("logits", [torch.tensor([row])], tuco=self._wanted is not None)

    def _scored_tokens(self, requests: list, disable_tqdm: bool, override_bs: int | None) -> list:
        truncated = sum(
            len(context) + len(continuation) > self.max_length + 1
            for _, context, continuation in requests
        )
        if truncated:
            warn(
                f"{truncated} of {len(requests)} requests are longer than the {self.max_length}-token context "
                f"and were truncated from the left (as lm-eval does); max_length=N raises the limit"
            )
        if self._wanted is None:
            return self._with_prefix_reuse(requests, disable_tqdm, override_bs)
        # The row lm-eval builds for (context, continuation), and its last context token.
        targets = []
        for _, context_enc, continuation_enc in requests:
            row = (context_enc + continuation_enc)[-(self.max_length + 1) :][:-1]
            targets.append((_row_key(row), max(len(row) - len(continuation_enc), 0)))
        for key, position in targets:
            self._wanted.setdefault(key, set()).add(position)
        shared: dict[int, float] = {}  # TuCo of the requests scored on the shared-prefix path
        results = self._with_prefix_reuse(requests, disable_tqdm, override_bs, tuco=shared)
        self._tuco_values = [shared.get(i, self._found.get(t)) for i, t in enumerate(targets)]
        return results

    def _prefix_scorer(self, tuco: bool = False) -> PrefixScorer | None:
        """The shared-prefix path where it is exact and implemented; None sends all to HFLM's path."""
        batch = self.batch_size
        if not self.prefix_reuse or self.mode != "activation" or not str(batch).isdigit():
            return None  # logits/weights modes and batch_size=auto take the plain path
        return PrefixScorer(self.model, self.joint, self._scoring, self.device, int(batch), self.softmax_dtype,
                            tuco=tuco)

    def _with_prefix_reuse(self, requests: list, disable_tqdm: bool, override_bs: int | None,
                           tuco: dict[int, float] | None = None) -> list:
        """Shared prefixes once, the rest on HFLM's path; `tuco`, when given, receives the TuCo of
        the requests scored here by request index (the plain path's go through `_collect`)."""
        scorer = self._prefix_scorer(tuco is not None)
        pairs = [(context, continuation) for _, context, continuation in requests]
        groups, rest = group_by_prefix(pairs, self.max_length) if scorer else ([], list(range(len(requests))))
        answers: dict[int, tuple[float, bool]] = {}
        for group in groups:
            for index, answer in scorer.score(group, pairs).items():
                answers[index] = answer
                if requests[index][0] is not None:  # rolling windows are cached per document, as in HFLM
                    self.cache_hook.add_partial("loglikelihood", requests[index][0], answer)
            if tuco is not None:
                tuco.update(scorer.found_tuco)
        if rest:
            plain = super()._loglikelihood_tokens(
                [requests[i] for i in rest], disable_tqdm=disable_tqdm, override_bs=override_bs
            )
            answers.update(zip(rest, plain, strict=True))
        return [answers[i] for i in range(len(requests))]

    @contextmanager
    def _memory_hint(self) -> Iterator[None]:
        """Out of GPU memory becomes one line naming the batch size (auto-detection still retries)."""
        try:
            yield
        except torch.OutOfMemoryError:
            raise TucoError(
                f"out of GPU memory at batch_size={self.batch_size}: the joint pass holds both models "
                f"and their activations; use batch_size=auto or a smaller batch size"
            ) from None

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list:
        with self._memory_hint():
            results = self._loglikelihood_with_tuco(requests, disable_tqdm)
            if self.log_kl:
                log_measures(self, requests)
            return results

    def _loglikelihood_with_tuco(self, requests: list, disable_tqdm: bool = False) -> list:
        if not self.log_tuco:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        self._wanted, self._found, self._tuco_values = {}, {}, []
        try:
            results = super().loglikelihood(requests, disable_tqdm=disable_tqdm)
            for instance, value in zip(requests, self._tuco_values, strict=True):
                attach(instance, {"tuco": value, "alpha": self.alpha})
        finally:
            self._wanted, self._found = None, {}
        return results

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list:
        with self._memory_hint():
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list:
        with self._memory_hint():
            results = super().generate_until(requests, disable_tqdm=disable_tqdm)
            if self.log_tuco:
                # One extra prefill pass over the prompts as generation saw them (cut to make room)
                prompts = [prompt_tokens(self, r) for r in requests]
                for instance, value in zip(requests, self._prompt_tuco(prompts), strict=True):
                    attach(instance, {"tuco": value, "alpha": self.alpha})
            if self.log_kl:
                log_measures(self, requests)
            return results

    def _prompt_tuco(self, prompts: list[tuple[int, ...]]) -> list[float]:
        """TuCo at each prompt's last token (the tokens generation saw), on the α-scaled pass."""
        unique = sorted(set(prompts), key=len, reverse=True)
        batch = self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 0 else 1
        values: dict[tuple[int, ...], float] = {}
        for start in range(0, len(unique), batch):
            chunk = unique[start : start + batch]
            ids, mask = pad_batch(chunk, self.tokenizer.pad_token_id or 0, side="left")
            out = tuco_of_batch(
                self.joint,
                ids.to(self.device),
                mask.to(self.device),
                alpha=self.scaling.tuco_alpha(),
            )
            values.update(zip(chunk, out["tuco"].tolist(), strict=True))
        return [values[p] for p in prompts]
