"""A series of fine-tuned checkpoints against one base: the base weights loaded once for all.

`sweep_checkpoints` writes a ROOT (docs/checkpoints.md): ROOT/checkpoints.json (the series,
tuco_eval.store.checkpoints), ROOT/base (lm-eval's `hf` on the base alone, once per task, stored as
α = 1.0) and one ordinary RUN_DIR per checkpoint (`tuco_eval.sweeps.alphas`, resumable per (α, task)).

Full-model checkpoints are loaded one at a time beside the one base and freed after their sweep.
PEFT adapters are swapped on the shared base model (peft's load_adapter / set_adapter /
delete_adapter), each with a fresh joint (`tuco_eval.core.pair.join`): the base is never reloaded.
Full models run before adapters, so their base is never a model that holds adapter layers.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tuco_eval.store.checkpoints import (
    Checkpoint,
    base_record,
    plan_series,
    read_series,
    record_series,
)
from tuco_eval.store.run_json import RUN_INFO, RunInfo, merge_run_info, read_run_info
from tuco_eval.sweeps.alphas import check_task_names, sweep_alone
from tuco_eval.sweeps.modes import sweep_modes
from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions
from tuco_eval.util.checkpoint_labels import BASE_LABEL
from tuco_eval.util.errors import TucoError
from tuco_eval.util.lm_eval_labels import model_args_value
from tuco_eval.util.params import parse_alphas, parse_flag, parse_modes

BASE_ARGS = {"base": "pretrained", "base_revision": "revision", "base_gguf_file": "gguf_file"}
TUCO_ARGS = ("alpha", "log_tuco", "adapter_base_check", "mode", "log_kl", "prefix_reuse")
FINETUNED_ARGS = ("pretrained", "revision", "gguf_file", "peft", "delta")  # per checkpoint instead


@dataclass(frozen=True)
class SeriesArgs:
    """`--model-args` of a series, split by whom each key is for."""

    text: str  # as given: each checkpoint's RUN_DIR records `pretrained=<it>,` + this
    base: str
    base_revision: str | None
    base_gguf_file: str | None
    hf_pieces: tuple[str, ...]  # `key=value` for lm-eval's `hf` (dtype, trust_remote_code, ...)
    tuco: dict[str, str]  # tuco_scaled's own keys

    @property
    def base_args(self) -> str:
        """The `hf` model_args that evaluate the base alone, as `lm_eval --model hf` would."""
        own = [f"pretrained={self.base}"]
        own += [f"revision={self.base_revision}"] if self.base_revision else []
        own += [f"gguf_file={self.base_gguf_file}"] if self.base_gguf_file else []
        return ",".join([*own, *self.hf_pieces])

    def checkpoint_args(self, checkpoint: Checkpoint) -> str:
        """The `tuco_scaled` model_args of one checkpoint: the old sweep form's, exactly."""
        revision = f",revision={checkpoint.revision}" if checkpoint.revision else ""
        return f"pretrained={checkpoint.source}{revision},{self.text}"


def parse_series_args(model_args: str) -> SeriesArgs:
    """Split `base=PT,dtype=...,...`; a key that names the fine-tuned side is refused."""
    pieces = [p.strip() for p in model_args.split(",") if p.strip()]
    values: dict[str, str] = {}
    for piece in pieces:
        key, equals, value = piece.partition("=")
        if not equals or not key.strip():
            raise TucoError(f"--model-args: expected key=value, got {piece!r}")
        values[key.strip()] = value.strip()
    given = [k for k in FINETUNED_ARGS if k in values]
    if given:
        raise TucoError(
            f"--model-args {given[0]}= names one fine-tuned model, but --finetuned names the series: "
            f"drop {given[0]}= (a checkpoint's revision is written SOURCE@REVISION)"
        )
    if not values.get("base"):
        raise TucoError("--model-args needs base=<pre-trained> with --finetuned")
    hf = tuple(p for p in pieces if p.partition("=")[0].strip() not in (*BASE_ARGS, *TUCO_ARGS))
    return SeriesArgs(
        text=",".join(pieces),
        base=values["base"],
        base_revision=values.get("base_revision") or None,
        base_gguf_file=values.get("base_gguf_file") or None,
        hf_pieces=hf,
        tuco={k: values[k] for k in TUCO_ARGS if k in values},
    )


def sweep_checkpoints(
    finetuned: Sequence[str],
    tasks: Sequence[str],
    root: str | Path,
    *,
    model_args: str,
    settings: EvalSettings,
    grid: Grid | None = None,
    model_options: ModelOptions | None = None,
    labels: Sequence[str] | None = None,
    checkpoint_index: int | None = None,
    progress: bool = True,
    base: tuple[Any, Any] | None = None,
    reuse: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Sweep every checkpoint of `finetuned` (folders, globs, Hub ids with `@revision`, PEFT
    adapter folders) against the base of `model_args` (`base=PT,dtype=...`) into ROOT.

    `settings` builds every unit's prompts; `grid` (default `Grid()`: the paper's α in model_args'
    mode) is swept for each checkpoint; `model_options` (default `ModelOptions()`) builds each model.
    `checkpoint_index` runs only that checkpoint of the series (0-based, training order: one
    SLURM array task each); checkpoints.json still records all of them. Every check that needs
    no weights runs first. `base` is that base already loaded, (model, tokenizer): a model, or
    a PEFT model on it (adapter checkpoints only), whose adapter is then swapped for the
    checkpoints'; nothing loads again. `reuse` maps a checkpoint's label to a RUN_DIR already
    swept with the same weights (a local folder with equal files): its units are copied, not
    computed. Returns {"series": ROOT/checkpoints.json as recorded (a `Series`), "swept": the labels of the
    checkpoints this call swept, "base": (model, tokenizer), the base as loaded, to pass to the
    next call (a PEFT model once adapters were swapped on it)}."""
    from tuco_eval.store.checkpoints import resolve_checkpoints

    args = parse_series_args(model_args)
    grid = _series_grid(grid or Grid(), args)
    series = resolve_checkpoints(finetuned, labels)
    chosen = {c.label for c in _chosen(series, checkpoint_index)}
    root, base_entry = Path(root), base_record(args.base, args.base_revision)
    planned = [c for c in plan_series(root, base_entry, series) if c.label in chosen]
    check_task_names(list(tasks), settings.task_manager)
    _check_recorded_args(root / BASE_LABEL, args.base_args)
    for checkpoint in planned:
        _check_recorded_args(root / checkpoint.run_dir, args.checkpoint_args(checkpoint))
    _check_before_weights(args, planned)
    reuse = _check_reuse(reuse or {}, series)
    base_model, base_tokenizer = base or (None, None)
    if base_model is not None:
        _check_loaded_base(base_model, base_tokenizer, planned)
    placed = [c for c in record_series(root, base_entry, series) if c.label in chosen]
    options = _series_options(model_options or ModelOptions(), args)
    run = _Runner(args, list(tasks), root, settings, grid, options, progress, reuse)
    run.all(placed, base_model, base_tokenizer)
    return {"series": read_series(root), "swept": [c.label for c in placed],
            "base": (run.loaded_base, run.loaded_tokenizer)}


def _series_grid(grid: Grid, args: SeriesArgs) -> Grid:
    """The grid checked before anything loads; no modes given: model_args' mode (else activation)."""
    alphas = parse_alphas(grid.alphas)
    modes = parse_modes(",".join(grid.modes)) if grid.modes else [args.tuco.get("mode", "activation")]
    return replace(grid, alphas=alphas, modes=modes)


def _series_options(options: ModelOptions, args: SeriesArgs) -> ModelOptions:
    """`log_tuco` / `log_kl` also where model_args says so (tuco_scaled's own keys)."""
    return replace(
        options,
        log_tuco=options.log_tuco or parse_flag(args.tuco.get("log_tuco", False), "log_tuco"),
        log_kl=options.log_kl or parse_flag(args.tuco.get("log_kl", False), "log_kl"),
    )


def _chosen(series: list[Checkpoint], index: int | None) -> list[Checkpoint]:
    if index is None:
        return series
    if not 0 <= index < len(series):
        raise TucoError(
            f"--checkpoint-index {index} is out of range: the series has {len(series)} checkpoint(s), "
            f"0 to {len(series) - 1} in training order ({', '.join(c.label for c in series)})"
        )
    return [series[index]]


def _check_loaded_base(model: Any, tokenizer: Any, checkpoints: Sequence[Checkpoint]) -> None:
    from tuco_eval.core.pair import is_peft_model

    if tokenizer is None:
        raise TucoError("a loaded base model needs its tokenizer: pass base_tokenizer too")
    if is_peft_model(model) and any(c.kind == "model" for c in checkpoints):
        raise TucoError("a loaded PEFT base serves adapter checkpoints only: pass the plain base model")


WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json",
                "model.safetensors", "pytorch_model.bin", "config.json")


def _check_reuse(reuse: Mapping[str, str | Path], series: list[Checkpoint]) -> dict[str, Path]:
    """Each reused RUN_DIR names a checkpoint of the series and was swept from a folder whose
    weight files equal that checkpoint's."""
    by_label = {c.label: c for c in series}
    checked = {}
    for label, run_dir in reuse.items():
        if label not in by_label:
            raise TucoError(f"reuse names {label!r}, which is no checkpoint of the series "
                            f"({', '.join(by_label)})")
        swept_from = model_args_value(str(read_run_info(run_dir).model_args or ""), "pretrained")
        if swept_from is None:
            raise TucoError(f"cannot reuse {run_dir} for checkpoint '{label}': its run.json names no "
                            f"pretrained= model to compare with; drop the reuse")
        ours, theirs = Path(by_label[label].source), Path(swept_from)
        names = [n for n in WEIGHT_FILES if (ours / n).is_file() or (theirs / n).is_file()]
        if not names or not all((ours / n).is_file() and (theirs / n).is_file()
                                and (ours / n).read_bytes() == (theirs / n).read_bytes() for n in names):
            raise TucoError(f"cannot reuse {run_dir} for checkpoint '{label}': it was swept from "
                            f"{theirs}, whose weight files differ from {ours}'s")
        checked[label] = Path(run_dir)
    return checked


def _check_recorded_args(run_dir: Path, model_args: str) -> None:
    """A RUN_DIR holding another model's results is refused now, not after the models load."""
    if (run_dir / RUN_INFO).is_file():
        merge_run_info(read_run_info(run_dir), RunInfo.of(model_args=model_args), where=f"RUN_DIR {run_dir}")


def _check_before_weights(args: SeriesArgs, checkpoints: Sequence[Checkpoint]) -> None:
    """Configs and tokenizers of full-model checkpoints against the base's, and each local
    adapter's recorded base: all before any weights load."""
    from tuco_eval.core.pair import check_configs, check_tokenizers
    from tuco_eval.core.sources import ModelSource, check_adapter_base, load_config, load_tokenizer

    trust = parse_flag(next((p.partition("=")[2] for p in args.hf_pieces
                             if p.startswith("trust_remote_code=")), False), "trust_remote_code")
    models = [c for c in checkpoints if c.kind == "model"]
    if parse_flag(args.tuco.get("adapter_base_check", True), "adapter_base_check"):
        for checkpoint in (c for c in checkpoints if c.kind == "adapter" and Path(c.source).is_dir()):
            check_adapter_base(checkpoint.source, args.base)
    if not models:
        return
    base = ModelSource(args.base, args.base_revision, args.base_gguf_file, trust)
    base_config, base_tokenizer = load_config(base, "base model"), load_tokenizer(base, "base tokenizer")
    for checkpoint in models:
        own = ModelSource(checkpoint.source, checkpoint.revision, trust_remote_code=trust)
        try:
            check_configs(load_config(own, "checkpoint"), base_config)
            check_tokenizers(load_tokenizer(own, "checkpoint tokenizer"), base_tokenizer)
        except TucoError as err:
            raise TucoError(f"checkpoint '{checkpoint.label}' ({checkpoint.source}): {err}") from None


class _Runner:
    """The base loaded once; the base alone, then each checkpoint on it; bars over all of it."""

    def __init__(self, args: SeriesArgs, tasks: list[str], root: Path, settings: EvalSettings,
                 grid: Grid, options: ModelOptions, progress: bool, reuse: dict[str, Path]):
        self.args, self.tasks, self.root, self.settings = args, tasks, root, settings
        self.grid, self.options = grid, options
        self.hflm_extra = options.lm_eval_kwargs()  # lm-eval's batch_size, max_batch_size, device
        self.progress, self.reuse = progress, reuse
        self.loaded_base: Any = None  # the base model (or the PEFT model on it) after all()
        self.loaded_tokenizer: Any = None

    def all(self, chosen: list[Checkpoint], base_model: Any = None, base_tokenizer: Any = None) -> None:
        from tuco_eval.core.pair import is_peft_model

        # full models first: after the first adapter the base model holds adapter layers
        order = [c for c in chosen if c.kind == "model"] + [c for c in chosen if c.kind == "adapter"]
        bar = tqdm(total=1 + len(order), desc="checkpoints", unit="model", disable=not self.progress)
        try:
            bar.set_postfix_str(f"{BASE_LABEL} (loading)")
            base_lm = self._load_base(base_model, base_tokenizer)
            peft_model = base_model if is_peft_model(base_model) else None
            with peft_model.disable_adapter() if peft_model is not None else nullcontext():
                self._base_alone(base_lm)
            bar.update(1)
            for index, checkpoint in enumerate(order):
                bar.set_postfix_str(f"{checkpoint.label} (loading)")
                if checkpoint.kind == "model":
                    self._model(base_lm, checkpoint)
                else:
                    peft_model = swap_adapter(peft_model or base_lm.model, checkpoint, f"checkpoint_{index}")
                    self._adapter(peft_model, base_lm.tokenizer, checkpoint)
                bar.update(1)
            self.loaded_base, self.loaded_tokenizer = peft_model or base_lm.model, base_lm.tokenizer
        finally:
            bar.close()

    def _load_base(self, model: Any = None, tokenizer: Any = None) -> Any:
        from lm_eval.models.huggingface import HFLM

        from tuco_eval.core.layers import unwrap
        from tuco_eval.core.load_errors import friendly_load

        if model is not None:  # loaded already: lm-eval's `hf` around its plain model
            return HFLM(pretrained=unwrap(model), tokenizer=tokenizer, **self._hf_kwargs(), **self.hflm_extra)
        return friendly_load(lambda: HFLM.create_from_arg_string(self.args.base_args, self.hflm_extra),
                             self.args.base, "base model")

    def _base_alone(self, base_lm: Any) -> None:
        info = {"label": BASE_LABEL, "source": self.args.base, "revision": self.args.base_revision,
                "step": None, "kind": "base"}
        sweep_alone(base_lm, self.tasks, self.root / BASE_LABEL, settings=self.settings,
                    model_args=self.args.base_args, label=BASE_LABEL,
                    run_info=RunInfo.of(kind="base", checkpoint=info), progress=self.progress)

    def _model(self, base_lm: Any, checkpoint: Checkpoint) -> None:
        from tuco_eval.harness.tuco_scaled import TucoScaledLM

        pieces = [f"pretrained={checkpoint.source}", *self.args.hf_pieces]
        pieces += [f"revision={checkpoint.revision}"] if checkpoint.revision else []
        pieces += [f"{k}={v}" for k, v in self.args.tuco.items() if k not in ("alpha", "log_tuco")]
        lm = TucoScaledLM.create_from_arg_string(",".join(pieces), {**self.hflm_extra, "base": base_lm.model})
        if lm.model.dtype != base_lm.model.dtype:
            raise TucoError(
                f"checkpoint '{checkpoint.label}' loads as {lm.model.dtype} but the base as "
                f"{base_lm.model.dtype}; set one with dtype=... in --model-args"
            )
        try:
            self._sweep(lm, checkpoint)
        finally:  # one full fine-tuned model in memory at a time, beside the base
            del lm
            _free_memory()

    def _adapter(self, peft_model: Any, base_tokenizer: Any, checkpoint: Checkpoint) -> None:
        from tuco_eval.core.pair import finish_pair
        from tuco_eval.core.sources import adapter_tokenizer
        from tuco_eval.harness.tuco_scaled import TucoScaledLM

        tokenizer = adapter_tokenizer(checkpoint.source, base_tokenizer)
        pair = finish_pair(peft_model, tokenizer, None, base_tokenizer=base_tokenizer)
        tuco = {k: v for k, v in self.args.tuco.items() if k in ("mode", "log_kl", "prefix_reuse")}
        lm = TucoScaledLM.from_pair(pair, **tuco, **self._hf_kwargs(), **self.hflm_extra)
        self._sweep(lm, checkpoint)

    def _hf_kwargs(self) -> dict[str, Any]:
        """`--model-args` for lm-eval's `hf` around a model loaded already (its placement is done)."""
        from lm_eval.utils import simple_parse_args_string

        hf = simple_parse_args_string(",".join(self.args.hf_pieces))
        for placement in ("parallelize", "tp_plan"):
            hf.pop(placement, None)
        return hf

    def _sweep(self, lm: Any, checkpoint: Checkpoint) -> None:
        from tuco_eval.store.run_json import update_run_info

        lm.log_tuco, lm.log_kl = self.options.log_tuco, self.options.log_kl or lm.log_kl
        run_dir = self.root / checkpoint.run_dir
        model_args = self.args.checkpoint_args(checkpoint)
        info = RunInfo.of(checkpoint=checkpoint.info())
        # the label first, so that every mode's store (modes/sweep.py) is named after it
        update_run_info(run_dir, RunInfo.of(model_args=model_args, label=checkpoint.label,
                                            checkpoint=checkpoint.info()))
        sweep_modes(lm, self.tasks, run_dir, settings=self.settings, grid=self.grid,
                    model_args=model_args, label=checkpoint.label, run_info=info,
                    reuse=self.reuse.get(checkpoint.label), progress=self.progress)


def swap_adapter(model: Any, checkpoint: Checkpoint, name: str) -> Any:
    """The PEFT model with `checkpoint`'s adapter the only one: wrapped around the base model the
    first time, afterwards loaded beside the old adapter, made active, the old one deleted."""
    from peft import PeftModel

    from tuco_eval.core.load_errors import friendly_load

    with warnings.catch_warnings():  # peft probes a transformers attribute deprecated in v5
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        if not isinstance(model, PeftModel):
            return friendly_load(
                lambda: PeftModel.from_pretrained(model, checkpoint.source, adapter_name=name,
                                                  revision=checkpoint.revision),
                checkpoint.source, "adapter").eval()
        old = model.active_adapter
        while name in model.peft_config:  # a model passed back from an earlier series holds it
            name += "_next"
        friendly_load(lambda: model.load_adapter(checkpoint.source, adapter_name=name,
                                                 revision=checkpoint.revision),
                      checkpoint.source, "adapter")
    model.set_adapter(name)
    model.delete_adapter(old)
    return model.eval()


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
