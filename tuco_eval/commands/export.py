"""`tuco-eval export --model-args pretrained=FT,base=PT,alpha=A,mode=weights --output DIR`: the
weights mode's model at α as a folder any server loads (tuco_eval.core.export)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuco_eval.commands.pair_options import add_device_argument, resolve_device

if TYPE_CHECKING:
    from tuco_eval.records.cv_json import CVResult

HELP = (
    "Write the weights mode's model at α (θ_PT + α(θ_FT − θ_PT), or a LoRA adapter merged at α) "
    "as a model folder that lm-eval's hf, vLLM or TGI load, with a model card"
)
KEYS = {"pretrained", "base", "alpha", "mode", "dtype", "revision", "base_revision", "trust_remote_code",
        "adapter_base_check"}
IGNORED = {"log_tuco", "log_kl", "prefix_reuse", "batch_size", "max_batch_size", "device"}  # scoring only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-args", required=True,
        help="tuco_scaled's model_args: pretrained=FT,base=PT,alpha=A,mode=weights[,dtype=...,revision=...]; "
        "alpha= may be left to --cv",
    )
    parser.add_argument(
        "--output", required=True, type=Path, metavar="DIR",
        help="the folder to write (safetensors, config, tokenizer, README.md); must be empty or new",
    )
    parser.add_argument(
        "--cv", type=Path, default=None, metavar="RUN_DIR",
        help="a RUN_DIR swept in the weights mode and cross-validated: its Δ_CV goes into the model "
        "card, and its chosen α is used where alpha= is not given",
    )
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from tuco_eval.util.errors import TucoError

    values = _model_args(args.model_args)
    _check_mode(values.get("mode"), args.cv)
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TucoError(f"--output {out} is not empty; give a new folder (an export never overwrites)")
    cv, cv_source = _read_cv(args.cv) if args.cv else (None, None)
    alpha = _alpha(values, cv)

    from tuco_eval.core.export import export_at_alpha
    from tuco_eval.core.sources import ModelSource
    from tuco_eval.render.model_card import model_card
    from tuco_eval.util.params import parse_flag

    trust = parse_flag(values.get("trust_remote_code", False), "trust_remote_code")
    exported = export_at_alpha(
        ModelSource(values["pretrained"], values.get("revision"), trust_remote_code=trust),
        ModelSource(values["base"], values.get("base_revision"), trust_remote_code=trust),
        out, alpha, dtype=str(values.get("dtype", "auto")), device=resolve_device(args.device),
        adapter_base_check=parse_flag(values.get("adapter_base_check", True), "adapter_base_check"),
        card=lambda kind, dtype: model_card(values["base"], values["pretrained"], alpha, kind, dtype, cv, cv_source,
                                            _chosen(cv)),
    )
    print(f"exported {exported.kind} at α = {alpha} ({exported.dtype}) to {out}: {', '.join(exported.files)}")
    return 0


def _model_args(text: str) -> dict[str, Any]:
    from tuco_eval.commands.pair_options import parse_model_args
    from tuco_eval.util.errors import TucoError

    values = parse_model_args(text, [*sorted(KEYS), *sorted(IGNORED)], "export")
    for key in ("pretrained", "base"):
        if not values.get(key):
            raise TucoError(f"--model-args needs {key}=<{'fine-tuned' if key == 'pretrained' else 'pre-trained'} model>")
    return values


def _check_mode(mode: str | None, cv: Path | None) -> None:
    """Only the weights mode is a set of weights; the others are refused with what is known of
    how far they are from it."""
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.params import parse_mode

    if mode is not None and parse_mode(mode) == "weights":
        return
    named = f"mode={mode}" if mode else "no mode= (tuco_scaled's default, activation)"
    raise TucoError(
        f"--model-args has {named}: the activation and logits modes mix activations or output "
        f"distributions at run time and no single set of weights computes them; export mode=weights "
        f"(θ_PT + α(θ_FT − θ_PT)). {_agreement(cv)}"
    )


def _agreement(cv: Path | None) -> str:
    """The measured difference between the weights mode and the others, where RUN_DIR has it."""
    path = cv / "modes.json" if cv else None
    if path is None or not path.is_file():
        return ("The modes agree only at α = 1 (and at α = 0 where fine-tuning left the embedding, norm and head "
                "alone); `tuco-eval sweep --modes activation,weights` then `tuco-eval cv` measures how "
                "far they differ on your tasks.")
    modes = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for task, entry in modes.get("tasks", {}).items():
        for name, pair in entry.get("pairs", {}).items():
            if "weights" in name.split(" - "):
                low, high = pair["ci95"]
                found.append(f"{task} {name}: {100 * pair['diff']:+.2f} pts [{100 * low:+.2f}, "
                             f"{100 * high:+.2f}], p {pair['p_value']:.3g}")
    if not found:
        return f"{path} compares no mode with weights."
    return f"Measured in {path} (held-out score at the CV's α): " + "; ".join(found[:5]) + "."


def _chosen(cv: CVResult | None) -> dict[str, float | None]:
    from tuco_eval.analysis.run_cv import chosen_alpha

    return {} if cv is None else {name: chosen_alpha(cv, name) for name in cv.alpha_rows()}


def _read_cv(run_dir: Path) -> tuple[CVResult, str]:
    from tuco_eval.analysis.run_cv import read_cv
    from tuco_eval.records.cv_json import OldFormat
    from tuco_eval.store.run_json import mode_root
    from tuco_eval.util.errors import TucoError

    store = mode_root(run_dir, "weights")
    path = store / "cv.json"
    if not path.is_file():
        raise TucoError(f"--cv {run_dir}: no {path}; sweep it with mode=weights (or --modes weights) "
                        f"and run `tuco-eval cv {run_dir}` first")
    try:
        return read_cv(path), str(path)
    except OldFormat as err:  # the store is there: computing it again is cheap
        raise TucoError(f"--cv: {path} is of another cv.json format ({err}); rerun `tuco-eval cv {run_dir}`") from None
    except (OSError, ValueError) as err:
        raise TucoError(f"--cv: {path} is unreadable ({err}); rerun `tuco-eval cv {run_dir}`") from None


def _alpha(values: dict[str, Any], cv: CVResult | None) -> float:
    from tuco_eval.analysis.run_cv import chosen_alpha
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.params import parse_alpha

    if "alpha" in values:
        return parse_alpha(values["alpha"])
    if cv is None:
        raise TucoError("--model-args needs alpha=A (or --cv RUN_DIR, whose cross-validation chose one)")
    rows = cv.alpha_rows()
    if len(rows) != 1:
        raise TucoError(f"--cv has {len(rows)} rows ({', '.join(list(rows)[:6])}), each with its own α; "
                        "give alpha= in --model-args")
    return float(chosen_alpha(cv, next(iter(rows))) or 1.0)
