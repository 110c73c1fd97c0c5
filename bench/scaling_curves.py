"""Time and peak memory of the joint pass versus batch size, sequence length and block count.

Each point times a fine-tuned forward alone and a joint forward (α = 1.1) round-robin in this
process, and measures the peak resident memory of each in a fresh interpreter (VmHWM above an
interpreter that built nothing). Mid-size random Llama (hidden 512, vocabulary 32000), float32,
CPU; defaults batch 4, 128 tokens, 8 blocks. Plots both ratios (joint / fine-tuned alone) with
the 2x line of two models into docs/scaling_curves.png and .svg. Last line: `ratio: <largest
time ratio seen>`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from common import interleaved_medians, joint_of, mid_size_pair, parser

DEFAULTS = {"batch": 4, "tokens": 128, "blocks": 8}
SWEEPS = {"batch": [1, 2, 4, 8], "tokens": [64, 128, 256, 512], "blocks": [2, 4, 8, 16]}
PEAK = r"""
import sys, torch
sys.path.insert(0, {bench!r})
from common import joint_of, mid_size_model, mid_size_pair
batch, tokens, blocks, joint = (int(a) for a in sys.argv[1:5])
torch.set_grad_enabled(False)
ids = torch.zeros((batch, tokens), dtype=torch.long)
if blocks and joint:
    ft, base = mid_size_pair(blocks=blocks)
    with joint_of(ft, base).active():
        ft(ids, use_cache=False)
elif blocks:  # the fine-tuned model alone: one model in memory
    mid_size_model(blocks=blocks)(ids, use_cache=False)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec
print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)
"""


def peak_mib(batch: int, tokens: int, blocks: int, joint: bool) -> float:
    code = PEAK.format(bench=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code, str(batch), str(tokens), str(blocks), str(int(joint))],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def measure(point: dict[str, int], repeats: int, baseline: float | None, warmups: int = 2) -> dict[str, float]:
    """Time ratio (and, with a `baseline`, peak-memory ratio) of the joint pass at one point."""
    ft, base = mid_size_pair(blocks=point["blocks"])
    joint = joint_of(ft, base)
    ids = torch.randint(0, 32000, (point["batch"], point["tokens"]), generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def alone():
        ft(ids, use_cache=False)

    @torch.no_grad()
    def joined():
        with joint.active():
            ft(ids, use_cache=False)

    times = interleaved_medians({"alone": alone, "joint": joined}, repeats, warmups=warmups)
    memory = {name: peak_mib(point["batch"], point["tokens"], point["blocks"], name == "joint") - baseline
              for name in ("alone", "joint")} if baseline is not None else {"alone": float("nan"), "joint": float("nan")}
    return {"time_ratio": times["joint"] / times["alone"], "memory_ratio": memory["joint"] / memory["alone"],
            "time_alone_s": times["alone"], "time_joint_s": times["joint"],
            "memory_alone_mib": memory["alone"], "memory_joint_mib": memory["joint"]}


def plot(results: dict[str, list[dict]], stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"batch": "batch size", "tokens": "sequence length (tokens)", "blocks": "decoder blocks"}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
    for ax, (dim, rows) in zip(axes, results.items(), strict=True):
        xs = [r[dim] for r in rows]
        ax.plot(xs, [r["time_ratio"] for r in rows], marker="o", label="time")
        ax.plot(xs, [r["memory_ratio"] for r in rows], marker="s", label="peak memory")
        ax.axhline(2.0, color="0.4", linestyle="--", label="2x: two models")
        ax.set(xscale="log", xlabel=labels[dim], ylim=(0, 2.6), ylabel="joint pass / fine-tuned alone")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, loc="lower right")
    fig.suptitle("Cost of the joint pass (α = 1.1) relative to the fine-tuned model alone; CPU, float32")
    for suffix in (".png", ".svg"):
        fig.savefig(stem.with_suffix(suffix), dpi=120)


def main() -> None:
    args = parser(__doc__).parse_args()
    # --quick: the time at the default point only (a memory peak costs two fresh interpreters)
    sweeps = {"batch": [DEFAULTS["batch"]]} if args.quick else SWEEPS
    repeats, warmups = (1, 1) if args.quick else (3, 2)
    baseline = None if args.quick else peak_mib(1, 1, 0, False)
    results: dict[str, list[dict]] = {}
    for dim, values in sweeps.items():
        for value in values:
            point = {**DEFAULTS, dim: value}
            row = {**point, **measure(point, repeats, baseline, warmups)}
            results.setdefault(dim, []).append(row)
            memory = ("memory not measured (--quick)" if baseline is None else
                      f"memory x{row['memory_ratio']:.2f} ({row['memory_alone_mib']:.0f} -> "
                      f"{row['memory_joint_mib']:.0f} MiB)")
            print(f"{dim}={value:>4}: time x{row['time_ratio']:.2f} ({row['time_alone_s'] * 1000:.0f} -> "
                  f"{row['time_joint_s'] * 1000:.0f} ms), {memory}", flush=True)
    out = Path(__file__).resolve().parents[1] / "docs"
    if not args.quick:
        plot(results, out / "scaling_curves")
        (out / "scaling_curves.json").write_text(json.dumps(results, indent=1))
    print(f"ratio: {max(r['time_ratio'] for rows in results.values() for r in rows):.3f}")


if __name__ == "__main__":
    main()
