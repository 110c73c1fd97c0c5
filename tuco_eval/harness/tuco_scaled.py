"""`tuco_scaled`: lm-eval's HF model with the fine-tuning contribution scaled by α.

The pattern of lm-eval's `hf_steered.py`: HFLM loads the fine-tuned model and does batching,
padding, generation and accelerate; this class loads the base beside it (through the one pair
loader, `tuco_eval.core.pair`, driven by `tuco_eval.harness.hflm_pair`) and wraps HFLM's two
model entry points, `super()._model_call` and `super()._model_generate`, in the joint hooks.
`alpha` is a property over the joint's α, the one place it is set; the per-request TuCo of logged
samples is kept by `tuco_eval.harness.tuco_log`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from tuco_eval.core.joint import TucoSums
from tuco_eval.core.layers import unwrap
from tuco_eval.core.nonfinite import FiniteCacheHook, logits_flag
from tuco_eval.core.pair import Pair
from tuco_eval.core.scaling import Scaling
from tuco_eval.harness.finite_check import FiniteCheck
from tuco_eval.harness.hflm_pair import load_with_hflm
from tuco_eval.harness.prefix import fits, group_by_prefix
from tuco_eval.harness.prefix_scoring import PrefixScorer
from tuco_eval.harness.request_log import warn_truncated
from tuco_eval.harness.tuco_log import TucoLog, log_generation, log_loglikelihood
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import (
    format_alpha,
    parse_alpha,
    parse_flag,
    parse_mode,
    warn_if_negative,
)


@contextmanager
def without_kv_cache(*models: Any) -> Iterator[None]:
    """The models' default `use_cache` off for the block: HFLM's scoring call `self.model(inps)`
    then fills no KV cache (under the joint pass it would hold both models' layers)."""
    configs = [unwrap(m).config for m in models if m is not None]
    saved = [config.use_cache for config in configs]
    for config in configs:
        config.use_cache = False
    try:
        yield
    finally:
        for config, value in zip(configs, saved, strict=True):
            config.use_cache = value


@register_model("tuco_scaled")
class TucoScaledLM(HFLM):
    """HFLM over a (fine-tuned, base) pair; model_args: pretrained=FT, base=PT, alpha=1.0, ...

    What is HFLM's and what is overridden, and why:
    - `_model_call`, `_model_generate`: HFLM's own, called through `super()` inside the current
      scaling mode at α (`Scaling.active`), as hf_steered does; the scoring call runs with the
      models' default `use_cache` off (`without_kv_cache`), and both are followed by the NaN/inf
      check that names where a bad value appeared (`FiniteCheck`, which reruns a row by `_rerun`).
    - `_loglikelihood_tokens`: shared few-shot prefixes computed once and the other rows scored
      whole, in HFLM's batches, the vocabulary projection only where a continuation is scored
      (`PrefixScorer`); rolling windows and left-truncated rows on HFLM's own path (`super()`),
      as everything with `prefix_reuse=false`. Its `TucoLog` knows which row and position carries
      each request's TuCo (lm-eval does not say which request a `_model_call` row is); every answer
      is checked for NaN/inf. `loglikelihood` / `generate_until` attach TuCo and KL to the logged
      requests; `loglikelihood_rolling` adds the out-of-memory hint only.
    - `set_cache_hook`: lm-eval's response cache keys answers without α, so a cache path must
      name α, and NaN answers are never stored.
    HFLM internals still read: `mixed_precision_dtype` and `softmax_dtype`, because prefix
    scoring runs its own forward passes (a prefilled cache copied per batch of suffixes) and
    must score exactly as HFLM's path does; `cache_hook.add_partial` for the answers it makes;
    `max_length`, `batch_size`, `max_gen_toks`, `truncation`, `tok_batch_encode` for the tokens
    generation saw. Nothing of HFLM's body is copied.
    """

    def __init__(
        self,
        pretrained: Any = None,
        base: Any = None,
        alpha: Any = 1.0,
        base_revision: str | None = None,
        base_gguf_file: str | None = None,
        log_tuco: Any = False,
        adapter_base_check: Any = True,
        mode: str = "activation",
        log_kl: Any = False,
        prefix_reuse: Any = True,
        pair: Pair | None = None,
        **kwargs: Any,
    ) -> None:
        # every user value is checked before a weight loads
        alpha, mode = parse_alpha(alpha), parse_mode(mode)
        warn_if_negative(alpha)
        self.log_tuco = parse_flag(log_tuco, "log_tuco")
        self.log_kl = parse_flag(log_kl, "log_kl")
        self.prefix_reuse = parse_flag(prefix_reuse, "prefix_reuse")  # shared prefixes once (prefix.py)
        check = parse_flag(adapter_base_check, "adapter_base_check")
        if pair is not None:  # a loaded pair (from_pair): HFLM wraps its model, nothing loads
            super().__init__(pretrained=pair.model, tokenizer=pair.tokenizer, **kwargs)
        elif base is None:
            raise TucoError(
                "tuco_scaled needs the pre-trained model: add base=<Hub id or folder> to --model_args"
            )
        else:
            pair = load_with_hflm(self._hflm_init, pretrained, base, kwargs, alpha=alpha, check=check,
                                  base_revision=base_revision, base_gguf_file=base_gguf_file)
        if self.backend != "causal":
            raise TucoError("tuco_scaled supports decoder-only (causal) models only")
        self.base_model, self.joint = pair.base, pair.joint
        # the scaling mode (activation|logits|weights), switchable in place like α
        self.scaling = Scaling(self.model, pair.base, pair.joint, mode)
        self._cache_path: str | None = None  # lm-eval's response cache, when --use_cache is on
        self.tuco_log = TucoLog()  # per-request TuCo of logged samples, and the requests' tokens
        self.finite = FiniteCheck(self.scaling, self._rerun)  # NaN/inf in what goes back to lm-eval

    def _hflm_init(self, **kwargs: Any) -> tuple[Any, Any]:
        """HFLM's own loading of the fine-tuned side (its dtype, device, parallelize, peft, ...)."""
        super().__init__(**kwargs)
        return self.model, self.tokenizer

    @classmethod
    def from_pair(cls, pair: Pair, log_tuco: bool = False, mode: str = "activation", log_kl: bool = False,
                  prefix_reuse: Any = True, **hflm_kwargs: Any) -> TucoScaledLM:
        """A `tuco_scaled` over an already loaded `tuco_eval.core.pair.Pair` (nothing is loaded again)."""
        return cls(pair=pair, log_tuco=log_tuco, mode=mode, log_kl=log_kl, prefix_reuse=prefix_reuse,
                   **hflm_kwargs)

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
        """Around HFLM's scoring call: the current mode at α, no KV cache filled."""
        with self.scaling.active(sums), without_kv_cache(self.model, self.base_model):
            yield

    @contextmanager
    def _own_pass(self, sums: TucoSums | None = None) -> Iterator[None]:
        """Around a forward of our own (prefix scoring): what HFLM's `_model_call` puts around its
        call (no gradients, its autocast), in the current mode at α."""
        dtype = self.mixed_precision_dtype
        with ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            stack.enter_context(torch.autocast(device_type=self.device.type, dtype=dtype, enabled=dtype is not None))
            stack.enter_context(self.scaling.active(sums))
            yield

    def _model_call(
        self, inps: torch.Tensor, attn_mask: Any = None, labels: Any = None
    ) -> torch.Tensor:
        sums = self.tuco_log.sums()
        with self._scoring(sums):
            logits = super()._model_call(inps, attn_mask, labels)
        self.finite.scored(logits, inps, tuco=sums is not None)
        if sums is not None:
            self.tuco_log.collect(inps, sums.tuco())
        return logits

    def _model_generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        tokens, flag = None, []
        try:
            with self.scaling.active(), logits_flag(self.model, flag):  # every step's output logits
                tokens = super()._model_generate(*args, **kwargs)
        except RuntimeError:  # e.g. sampling from NaN: the one-line error instead, where it applies
            self.finite.generated(flag, args, kwargs, tokens)
            raise
        self.finite.generated(flag, args, kwargs, tokens)
        return tokens

    def _rerun(self, ids: torch.Tensor, tuco: bool) -> None:
        """A failed row once more through HFLM's scoring call, in the current mode and α (to locate NaN/inf)."""
        with self._scoring(TucoSums() if tuco else None):
            super()._model_call(ids.to(self.device))

    # --- log-likelihoods: the scoring path, and TuCo in logged samples -----------------------

    def _loglikelihood_tokens(
        self, requests: list, disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list:
        shared = self.tuco_log.begin(requests, self.max_length)  # TuCo of the shared-prefix path's requests
        warn_truncated(requests, self.max_length)
        results = self._with_prefix_reuse(requests, disable_tqdm, override_bs, tuco=shared)
        self.tuco_log.settle(shared)
        self.finite.answers(requests, results, self.max_length, tuco=self.tuco_log.recording)
        return results

    def _prefix_scorer(self, tuco: bool = False) -> PrefixScorer | None:
        """The own scoring path (shared prefixes, whole rows) where it is exact and implemented;
        None sends all to HFLM's path."""
        batch = self.batch_size
        if not self.prefix_reuse or self.mode != "activation" or not str(batch).isdigit():
            return None  # logits/weights modes and batch_size=auto take the plain path
        return PrefixScorer(self.model, self.joint, self._own_pass, self.device, int(batch), self.softmax_dtype,
                            tuco=tuco)

    def _with_prefix_reuse(self, requests: list, disable_tqdm: bool, override_bs: int | None,
                           tuco: dict[int, float] | None = None) -> list:
        """Shared prefixes once and the other rows whole, logits only where scored (prefix_scoring.py);
        rolling windows and rows lm-eval truncates on HFLM's path. `tuco`, when given, receives the
        TuCo of the requests scored here by request index (the plain path's go through `TucoLog.collect`)."""
        scorer = self._prefix_scorer(tuco is not None)
        pairs = [(context, continuation) for _, context, continuation in requests]
        groups, rest = group_by_prefix(pairs, self.max_length) if scorer else ([], list(range(len(requests))))
        # whole rows only where the head can take per-row positions (else nothing to save), and not
        # rolling windows (no cache key): they are scored at nearly every position
        whole = [i for i in rest if requests[i][0] is not None and fits(*pairs[i], self.max_length)
                 ] if scorer and scorer.slices else []
        rest = sorted(set(rest) - set(whole))
        answers: dict[int, tuple[float, bool]] = {}
        bar = tqdm(total=len(requests) - len(rest), disable=disable_tqdm or self.rank != 0 or not (groups or whole),
                   desc="Running loglikelihood requests")
        parts = [(scorer.score, group) for group in groups] + ([(scorer.score_whole, whole)] if whole else [])
        for run, what in parts:
            for index, answer in run(what, pairs, progress=bar.update).items():
                answers[index] = answer
                if requests[index][0] is not None:  # rolling windows are cached per document, as in HFLM
                    self.cache_hook.add_partial("loglikelihood", requests[index][0], answer)
            if tuco is not None:
                tuco.update(scorer.found_tuco)
        bar.close()
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
            with self.tuco_log.record(self.log_tuco):
                results = super().loglikelihood(requests, disable_tqdm=disable_tqdm)
            log_loglikelihood(self, requests)  # TuCo and KL into the logged requests, where asked
            return results

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list:
        with self._memory_hint():
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list:
        with self._memory_hint():
            results = super().generate_until(requests, disable_tqdm=disable_tqdm)
            log_generation(self, requests)  # TuCo and KL at the prompts generation saw, where asked
            return results
