"""The paper's measurement experiments as one call: build the prompt sets, score TuCo (one
batched pass per set) and OutputCo, optionally judge jailbreak success, write JSONL, summary and
plots.

| name        | sets                          | AUC (positive vs negative)   | jailbreak by default |
|-------------|-------------------------------|------------------------------|----------------------|
| web-vs-chat | web, chat                     | chat vs web                  | never                |
| languages   | en + each translated language | en vs each other language    | yes                  |
| many-shot   | <k>-shot for each k           | smallest k vs each other k   | no (--jailbreak)     |
| gcg         | plain, gcg                    | plain vs gcg                 | yes                  |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval import __version__
from tuco_eval.core.pair import Pair, pair_identity
from tuco_eval.core.tuco import compute_tuco, report_truncated
from tuco_eval.experiments import plots
from tuco_eval.experiments import summary as summ
from tuco_eval.experiments.jailbreak import (
    MAX_NEW_TOKENS,
    MIN_COMPLIANT,
    REFUSAL_STRINGS,
    SAMPLES,
    jailbreak_labels,
    sample_completions,
)
from tuco_eval.experiments.outputco import compute_outputco
from tuco_eval.experiments.page import write_experiment_page
from tuco_eval.experiments.prompts import (
    Prompt,
    chat_prompts,
    gcg_prompts,
    language_prompts,
    many_shot_prompts,
    read_gcg,
    read_translations,
    web_prompts,
)
from tuco_eval.experiments.prompts.harmful import ENGLISH, GcgRow, Translation
from tuco_eval.experiments.prompts.many_shot import DEFAULT_SHOTS, HARMFUL_PERSONAS
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_text, disk_errors
from tuco_eval.util.jsonl import write_jsonl_atomic
from tuco_eval.util.resume import discard, resumable_map

# Finished pieces live in OUT/.partial/ until the outputs are written: a rerun redoes at most one.
PARTIAL_FOLDER = ".partial"
SCORE_PIECE = 64  # prompts
JUDGE_PIECE = 8  # prompts, each sampled `samples` times


@dataclass
class Inputs:
    """What the experiments read besides the pair; files may be given as paths or parsed rows."""

    n: int = 100
    seed: int = 0
    translations: str | Path | list[Translation] | None = None
    gcg: str | Path | list[GcgRow] | None = None
    shots: Sequence[int] = DEFAULT_SHOTS
    personas: Sequence[str] = HARMFUL_PERSONAS
    data_dir: str | Path | None = None
    chat_template: bool = True  # for chat and jailbreak prompts, as in the paper


def _web_vs_chat(tok: Any, x: Inputs) -> list[Prompt]:
    web = web_prompts(tok, x.n, x.seed, data_dir=x.data_dir)
    return web + chat_prompts(tok, x.n, x.seed, chat_template=x.chat_template, data_dir=x.data_dir)


def _languages(tok: Any, x: Inputs) -> list[Prompt]:
    if x.translations is None:
        raise TucoError(
            "the languages experiment needs --translations FILE (JSONL: id, language, text)"
        )
    rows = x.translations if isinstance(x.translations, list) else read_translations(x.translations)
    return language_prompts(
        tok, rows, x.n, x.seed, chat_template=x.chat_template, data_dir=x.data_dir
    )


def _many_shot(tok: Any, x: Inputs) -> list[Prompt]:
    return many_shot_prompts(
        tok,
        x.n,
        x.seed,
        shots=x.shots,
        personas=x.personas,
        chat_template=x.chat_template,
        data_dir=x.data_dir,
    )


def _gcg(tok: Any, x: Inputs) -> list[Prompt]:
    if x.gcg is None:
        raise TucoError("the gcg experiment needs --gcg FILE (JSONL: id, goal, suffix)")
    rows = x.gcg if isinstance(x.gcg, list) else read_gcg(x.gcg)
    return gcg_prompts(tok, rows, x.n, x.seed, chat_template=x.chat_template)


def _first_vs_rest(first: str) -> Callable[[list[str]], list[tuple[str, str]]]:
    return lambda sets: [(first, s) for s in sets if s != first]


def _smallest_k_vs_rest(sets: list[str]) -> list[tuple[str, str]]:
    smallest = min(sets, key=lambda s: plots.shots_of(s) or 0)
    return [(smallest, s) for s in sets if s != smallest]


@dataclass(frozen=True)
class Experiment:
    build: Callable[[Any, Inputs], list[Prompt]]
    comparisons: Callable[[list[str]], list[tuple[str, str]]]  # (positive, negative) set pairs
    jailbreak: bool | None  # default; None: not available (no harmful prompts)


EXPERIMENTS: dict[str, Experiment] = {  # the package's NAMES, the CLI's list without torch (a test checks)
    "web-vs-chat": Experiment(_web_vs_chat, lambda sets: [("chat", "web")], None),
    "languages": Experiment(_languages, _first_vs_rest(ENGLISH), True),
    "many-shot": Experiment(_many_shot, _smallest_k_vs_rest, False),
    "gcg": Experiment(_gcg, _first_vs_rest("plain"), True),
}


def experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise TucoError(f"unknown experiment {name!r}: choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def wants_jailbreak(name: str, asked: bool | None) -> bool:
    """The experiment's default unless asked; asking where there are no harmful prompts fails."""
    default = experiment(name).jailbreak
    if asked and default is None:
        raise TucoError(f"--jailbreak does not apply to {name}: it has no harmful prompts")
    return bool(default if asked is None else asked)


@dataclass
class JailbreakOptions:
    samples: int = SAMPLES
    max_new_tokens: int = MAX_NEW_TOKENS
    refusal_strings: Sequence[str] = REFUSAL_STRINGS
    min_compliant: int = MIN_COMPLIANT


def score_prompts(
    pair: Pair, prompts: Sequence[Prompt], *, batch_size: int = 8, progress: Any = True
) -> list[dict[str, Any]]:
    """One record per prompt: TuCo (one compute_tuco pass per set) and OutputCo, in prompt order."""
    records: list[dict[str, Any]] = []
    for name in dict.fromkeys(p.set for p in prompts):
        members = [p for p in prompts if p.set == name]
        texts = [p.text for p in members]
        tucos = compute_tuco(
            pair.joint, pair.tokenizer, texts, batch_size=batch_size, progress=progress,
            warn_truncated=False,
        )
        outputcos = compute_outputco(pair, texts, batch_size=batch_size)
        for p, t, o in zip(members, tucos, outputcos, strict=True):
            records.append(
                {"set": p.set, "id": p.id, "text": p.text, **t, "outputco": o, "meta": p.meta}
            )
    return records


def judge_jailbreaks(
    pair: Pair,
    records: list[dict[str, Any]],
    options: JailbreakOptions,
    seed: int,
    *,
    checkpoint: Path,
    key: dict[str, Any],
    progress: bool = True,
) -> None:
    """Add `completions`, `refusals` and `jailbroken` to each record (in place); finished pieces
    are kept under `checkpoint` so an interrupted run resumes."""

    def judge(piece: Sequence[dict[str, Any]], start: int, bar: Any) -> list[dict[str, Any]]:
        completions = sample_completions(
            pair,
            [r["text"] for r in piece],
            samples=options.samples,
            max_new_tokens=options.max_new_tokens,
            seed=seed + start,  # each prompt's seed is seed + its index, as in one call
            progress=bar,
        )
        labels = jailbreak_labels(completions, options.refusal_strings, options.min_compliant)
        return [{"completions": c, **label} for c, label in zip(completions, labels, strict=True)]

    key = {**key, "seed": seed, "options": vars(options)}
    texts = [{"text": r["text"]} for r in records]
    judged = resumable_map(
        texts, judge, folder=checkpoint, key=key, piece=JUDGE_PIECE, desc="jailbreak samples",
        unit="prompt", progress=progress,
    )
    for record, verdict in zip(records, judged, strict=True):
        record.update(verdict)


def run_experiment(
    name: str,
    pair: Pair,
    out_dir: str | Path,
    n: int = 100,
    seed: int = 0,
    *,
    batch_size: int = 8,
    jailbreak: bool | None = None,
    jailbreak_options: JailbreakOptions | None = None,
    progress: bool = True,
    labels: dict[str, str] | None = None,
    **inputs: Any,
) -> dict[str, Any]:
    """Run experiment `name` on a loaded pair; write `tuco.jsonl`, `summary.json`, `summary.md`
    and the plots under `out_dir`; return the summary. `inputs` are Inputs fields
    (translations, gcg, shots, personas, data_dir, chat_template)."""
    spec = experiment(name)
    judge = wants_jailbreak(name, jailbreak)
    options = jailbreak_options or JailbreakOptions()
    prompts = spec.build(pair.tokenizer, Inputs(n=n, seed=seed, **inputs))
    if not prompts:
        raise TucoError(f"{name}: no prompts were built (check the data and --n)")
    partial = Path(out_dir) / PARTIAL_FOLDER
    key = {
        "experiment": name,
        "models": pair_identity(pair),
        "dtype": str(pair.model.dtype),
        "tuco_eval": __version__,
    }
    records = resumable_map(
        prompts,
        lambda piece, _, bar: score_prompts(pair, piece, batch_size=batch_size, progress=bar),
        folder=partial / "scores",
        key=key,
        piece=SCORE_PIECE,
        desc=f"{name}: TuCo",
        unit="prompt",
        progress=progress,
    )
    report_truncated(sum(r["truncated"] for r in records))
    if judge:
        judge_jailbreaks(
            pair, records, options, seed, checkpoint=partial / "jailbreak", key=key,
            progress=progress,
        )
    sets = list(dict.fromkeys(r["set"] for r in records))
    summary: dict[str, Any] = {
        "experiment": name,
        "finetuned": (labels or {}).get("finetuned", "?"),
        "base": (labels or {}).get("base", "?"),
        "n": n,
        "seed": seed,
        "sets": summ.set_statistics(records),
        "auc": summ.set_aucs(records, spec.comparisons(sets)),
    }
    if judge:
        summary["jailbreak_auc"] = summ.jailbreak_aucs(records)
        summary["jailbreak"] = {
            "samples": options.samples,
            "max_new_tokens": options.max_new_tokens,
            "min_compliant": options.min_compliant,
            "refusal_strings": list(options.refusal_strings),
            "prompts": len(records),
            "jailbroken": sum(r["jailbroken"] for r in records),
        }
    with disk_errors(f"the outputs into {out_dir}", "free space or choose another --output, then "
                     "rerun the same command: the scored pieces are kept"):
        write_outputs(Path(out_dir), name, records, summary)
    discard(partial)
    return summary


def write_outputs(
    out: Path, name: str, records: list[dict[str, Any]], summary: dict[str, Any]
) -> list[Path]:
    """tuco.jsonl, the figures, then summary.json (naming the figures), summary.md, index.html."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "tuco.jsonl", records)
    figures = plots.histograms(records, f"{name}: contribution of fine-tuning", out / "tuco_hist")
    figures += plots.layer_profiles(records, name, out / "layer_profile")
    if name == "many-shot":
        figures += plots.versus_shots(records, name, out / "tuco_vs_shots")
    summary["figures"] = [p.name for p in figures]
    atomic_write_text(
        out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    )
    atomic_write_text(out / "summary.md", summ.summary_markdown(summary))
    write_experiment_page(out, name, records, summary, figures)
    return figures
