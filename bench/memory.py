"""Peak memory of the joint pass against two models (or one, with a PEFT adapter), side by side.

Each case runs in a fresh interpreter and reports its peak resident memory (VmHWM) above a
baseline interpreter that imported the same libraries. Mid-size random Llama (8 blocks, hidden
512), batch 4 x 256, float32, CPU. Targets: joint <= 1.1 x (two models + one forward's
activations); adapter pair <= 1.15 x (one model + activations).
Prints `ratio: <joint peak / two-model peak>` last.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import parser

CASE = r"""
import sys, torch
sys.path.insert(0, {bench!r})
from common import mid_size_model, mid_size_pair, joint_of
# every case (and the baseline) imports the same libraries, so peaks compare models, not imports
from peft import LoraConfig, get_peft_model
from tuco_eval.core.joint import Joint
from tuco_eval.core.pair import base_blocks_for
case, batch, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ids = torch.randint(0, 32000, (batch, length), generator=torch.Generator().manual_seed(0))
torch.set_grad_enabled(False)
if case == "one":
    model = mid_size_model()
    model(ids, use_cache=False)
elif case == "two":
    ft, base = mid_size_pair()
    base(ids, use_cache=False); ft(ids, use_cache=False)
elif case == "joint":
    ft, base = mid_size_pair()
    with joint_of(ft, base).active():
        ft(ids, use_cache=False)
elif case == "adapter":
    base = mid_size_model()
    model = get_peft_model(base, LoraConfig(r=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    joint = Joint(model, base_blocks_for(model, None), alpha=1.1)
    with joint.active():
        model(ids, use_cache=False)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec
print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)  # MiB
"""


def peak_mib(case: str, batch: int, length: int) -> float:
    code = CASE.format(bench=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code, case, str(batch), str(length)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    args = parser(__doc__).parse_args()
    batch, length = (2, 128) if args.quick else (4, 256)
    baseline = peak_mib("baseline", batch, length)
    above = {case: peak_mib(case, batch, length) - baseline for case in ("one", "two", "joint", "adapter")}
    print(f"baseline interpreter: {baseline:.0f} MiB; peaks above it (batch {batch}x{length}):")
    for case, mib in above.items():
        print(f"  {case:>8}: {mib:7.0f} MiB")
    print(f"adapter pair / one model: {above['adapter'] / above['one']:.3f} (target <= 1.15)")
    print(f"ratio: {above['joint'] / above['two']:.3f}")


if __name__ == "__main__":
    main()
