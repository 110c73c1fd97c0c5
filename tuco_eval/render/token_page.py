"""`score --html`: one self-contained page showing each prompt's tokens shaded by their TuCo.

No external request: CSS and the hover script are inline, colours are computed here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuco_eval.util.files import atomic_write_text

# white -> orange -> red, by the share of the page's colour scale
STOPS = ((0.0, (255, 255, 255)), (0.5, (253, 174, 97)), (1.0, (215, 48, 39)))

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:1}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#555;font-size:13px;margin:0 0 8px}
.legend{display:flex;align-items:center;gap:10px;font-size:13px;flex-wrap:wrap}
.bar{width:240px;height:14px;border:1px solid #bbb;border-radius:2px}
.ticks{display:flex;justify-content:space-between;width:242px;font-size:11px;color:#555}
main{padding:8px 24px 40px;max-width:1100px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:10px 14px}
h2{font-size:14px;margin:0 0 8px;color:#333;font-weight:600}
.text{font:14px/1.9 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
.tok{border-radius:2px;padding:1px 0;cursor:default}
.tok:empty{display:inline-block;width:.35em;height:1em;vertical-align:middle}
.tok:hover{outline:2px solid #1f3b73}
.resp{box-shadow:inset 0 -3px 0 #2b6cb0}
.mark{font:11px system-ui,sans-serif;color:#fff;background:#2b6cb0;border-radius:3px;padding:1px 5px;margin:0 4px;vertical-align:middle;user-select:none}
.nl{opacity:.5}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;font:12px/1.4 system-ui,sans-serif;padding:4px 8px;border-radius:4px;white-space:pre;z-index:2}
"""

SCRIPT = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('.tok[title]').forEach(function(el){el.removeAttribute('title');});
  document.addEventListener('mouseover',function(e){
    var el=e.target.closest?e.target.closest('.tok'):null;
    if(!el){tip.hidden=true;return;}
    var where=el.classList.contains('resp')?' (response)':'';
    tip.textContent='TuCo '+Number(el.dataset.tuco).toFixed(4)+'\\ntoken '+el.dataset.pos+where+': '+JSON.stringify(el.textContent);
    var box=el.getBoundingClientRect();
    tip.hidden=false;
    tip.style.left=Math.min(box.left,window.innerWidth-tip.offsetWidth-8)+'px';
    tip.style.top=(box.bottom+6)+'px';
  });
})();
"""


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


def _token(piece: str, value: float, position: int, top: float, response: bool) -> str:
    r, g, b = colour(value, top)
    ink = "#fff" if value / top > 0.8 else "#1a1a1a"
    text = html.escape(piece).replace("\n", '<span class="nl">↵</span>\n')
    cls = "tok resp" if response else "tok"
    return (
        f'<span class="{cls}" data-tuco="{value:.6f}" data-pos="{position}" '
        f'title="TuCo {value:.4f}" style="background:rgb({r},{g},{b});color:{ink}">{text}</span>'
    )


def _section(record: Mapping[str, Any], top: float) -> str:
    n_prompt = record["n_tokens"]
    n_response = record.get("n_response_tokens")
    heading = f"{record.get('id', '')} · TuCo {record['tuco']:.4f} · {n_prompt} prompt tokens"
    if n_response is not None:
        heading += f" · {n_response} generated tokens"
    parts = []
    for position, (piece, value) in enumerate(
        zip(record["tokens"], record["tuco_per_token"], strict=True)
    ):
        if position == n_prompt and n_response is not None:
            parts.append('<span class="mark">response ▸</span>')
        parts.append(_token(piece, value, position, top, position >= n_prompt))
    if n_response == 0:
        parts.append('<span class="mark">no response: end of sequence at once</span>')
    return (
        f'<section data-id="{html.escape(str(record.get("id", "")))}">'
        f"<h2>{html.escape(heading)}</h2><div class=\"text\">{''.join(parts)}</div></section>"
    )


def render_token_page(records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """The page for score records that carry `tokens` and `tuco_per_token`."""
    top = scale_top([v for r in records for v in r["tuco_per_token"]])
    stops = ",".join(f"rgb{c} {int(at * 100)}%" for at, c in STOPS)
    facts = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in meta.items())
    generated = any("n_response_tokens" in r for r in records)
    marker = (
        '<span class="mark">response ▸</span><span class="resp" style="padding:0 6px">'
        "generated tokens are underlined</span>"
        if generated
        else ""
    )
    legend = (
        f'<div class="legend"><span>TuCo at each token (the share of its representation written '
        f"by fine-tuning, given the text up to it; hover a token for its value)</span>"
        f'<div><div class="bar" style="background:linear-gradient(to right,{stops})"></div>'
        f'<div class="ticks"><span>0</span><span>{top / 2:.3g}</span><span>{top:.3g}</span></div>'
        f"</div>{marker}</div>"
    )
    sections = "".join(_section(r, top) for r in records)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>TuCo token by token</title><style>{STYLE}</style></head><body>"
        f"<header><h1>TuCo token by token</h1><p class=\"meta\">{facts}</p>{legend}</header>"
        f"<main>{sections}</main><div id=\"tip\" role=\"tooltip\" hidden></div>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_token_page(
    path: str | Path, records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
) -> Path:
    """Write the page atomically; returns its path."""
    return atomic_write_text(path, render_token_page(records, meta))
