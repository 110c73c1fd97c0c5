"""`score --html`: one self-contained page showing each prompt's tokens shaded by their TuCo.

No external request: CSS and the hover script are inline (render/templates/tokens.*), colours
are computed here; the markup is render/templates/tokens.html.j2's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuco_eval.render.html_page import render
from tuco_eval.util.files import atomic_write_text

# white -> orange -> red, by the share of the page's colour scale
STOPS = ((0.0, (255, 255, 255)), (0.5, (253, 174, 97)), (1.0, (215, 48, 39)))

def scale_top(values: Sequence[float]) -> float:
    """The colour scale's upper end: the page's largest TuCo, rounded up to a multiple of 0.05."""
    largest = max((v for v in values if math.isfinite(v)), default=0.0)
    return min(1.0, max(0.05, math.ceil(largest / 0.05 - 1e-9) * 0.05))


def colour(value: float, top: float) -> tuple[int, int, int]:
    share = min(1.0, max(0.0, value / top))
    for (a, low), (b, high) in zip(STOPS, STOPS[1:], strict=False):
        if share <= b:
            f = (share - a) / (b - a)
            return tuple(round(lo + f * (hi - lo)) for lo, hi in zip(low, high, strict=True))  # type: ignore[return-value]
    return STOPS[-1][1]


def _token(piece: str, value: float, position: int, top: float, response: bool) -> dict[str, Any]:
    r, g, b = colour(value, top)
    return {
        "css": "tok resp" if response else "tok",
        "tuco": f"{value:.6f}",
        "title": f"{value:.4f}",
        "position": position,
        "rgb": f"{r},{g},{b}",
        "ink": "#fff" if value / top > 0.8 else "#1a1a1a",
        "lines": piece.split("\n"),  # a newline shows as ↵ and breaks the line
    }


def _section(record: Mapping[str, Any], top: float) -> dict[str, Any]:
    n_prompt = record["n_tokens"]
    n_response = record.get("n_response_tokens")
    heading = f"{record.get('id', '')} · TuCo {record['tuco']:.4f} · {n_prompt} prompt tokens"
    if n_response is not None:
        heading += f" · {n_response} generated tokens"
    pairs = zip(record["tokens"], record["tuco_per_token"], strict=True)
    return {
        "id": str(record.get("id", "")),
        "heading": heading,
        "tokens": [_token(p, v, i, top, i >= n_prompt) for i, (p, v) in enumerate(pairs)],
        "response_at": n_prompt if n_response is not None else None,
        "empty_response": n_response == 0,
    }


def render_token_page(records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """The page for score records that carry `tokens` and `tuco_per_token`."""
    top = scale_top([v for r in records for v in r["tuco_per_token"]])
    return render(
        "tokens.html.j2",
        facts=[f"{k}: {v}" for k, v in meta.items()],
        stops=",".join(f"rgb{c} {int(at * 100)}%" for at, c in STOPS),
        middle=f"{top / 2:.3g}",
        top=f"{top:.3g}",
        generated=any("n_response_tokens" in r for r in records),
        sections=[_section(r, top) for r in records],
    )


def write_token_page(
    path: str | Path, records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
) -> Path:
    """Write the page atomically; returns its path."""
    return atomic_write_text(path, render_token_page(records, meta))
