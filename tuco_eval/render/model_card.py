"""README.md of an exported model: what it is (base, fine-tune, α, the weights mode) and, when
a cross-validation chose α, the Δ_CV that chose it, in the Hub's model-card form."""

from __future__ import annotations

from collections.abc import Mapping

from tuco_eval.records.cv_json import CVResult
from tuco_eval.util.params import format_alpha


def cv_lines(cv: CVResult, chosen: Mapping[str, float | None]) -> list[str]:
    """One Markdown table row per cv.json row a choice of α rests on: Δ_CV in points with its
    interval and p, and ``chosen[row]``, the α chosen."""
    lines = []
    for name, row in cv.alpha_rows().items():
        low, high = row.ci95
        lines.append(
            f"| {name} | {cv.row_metric(name)} | {100 * row.delta_cv:+.2f} | "
            f"[{100 * low:+.2f}, {100 * high:+.2f}] | {row.p_value:.3g} | "
            f"{format_alpha(chosen[name] or 1.0)} |"
        )
    return lines


def model_card(base: str, finetuned: str, alpha: float, kind: str, dtype: str,
               cv: CVResult | None = None, cv_source: str | None = None,
               chosen: Mapping[str, float | None] | None = None) -> str:
    """The card's Markdown, front matter first."""
    a = format_alpha(alpha)
    what = ("the base with the fine-tune's LoRA adapter merged at α times its scale"
            if kind == "merged adapter" else "the parameters θ_PT + α(θ_FT − θ_PT)")
    lines = [
        "---", f"base_model: {base}", "tags:", "- tuco-eval", "- weight-interpolation", "---", "",
        f"# {finetuned} at α = {a} (weights mode)", "",
        f"This model is the fine-tune `{finetuned}` scaled in weight space against its base `{base}`: "
        f"{what}, with α = {a}. α = 1 is the fine-tune itself, α = 0 the base; α > 1 extrapolates "
        "the fine-tuning update. It loads and serves like any model of its architecture "
        f"(`lm_eval --model hf --model_args pretrained=<this folder>`, vLLM, TGI). Weights in {dtype}.",
        "",
        f"Written by `tuco-eval export` with `--model_args pretrained={finetuned},base={base},"
        f"alpha={a},mode=weights`; `lm_eval --model tuco_scaled` with those model_args scores "
        "the same log-likelihoods.",
    ]
    if cv is not None:
        lines += [
            "", "## How α was chosen", "",
            f"5-fold cross-validation over the α grid on held-out docs ({cv_source}): Δ_CV is the "
            "held-out score at the chosen α minus the score at α = 1, in points, with the 95 % "
            "interval of its expectation and the α-permutation p-value (not corrected for the "
            "rows' number).", "",
            "| task or group | metric | Δ_CV | 95 % interval | p | α chosen |",
            "|---|---|---:|---|---:|---:|",
            *cv_lines(cv, chosen or {}),
        ]
    return "\n".join(lines) + "\n"
