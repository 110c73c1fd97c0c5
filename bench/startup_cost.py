"""What the lm-eval registration hook costs an unrelated Python start-up.

The installed `tuco_eval_autoregister.pth` imports a stdlib-only module at every interpreter
start. Measured in fresh interpreters: the hook module's own import time (`-X importtime`,
cumulative) beside the whole `python -c pass` start-up. Prints both and
`ratio: <hook import time / whole interpreter start-up>` last; the target is < 5 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from common import parser


def hook_import_us() -> float:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True,
                         text=True, check=True).stderr
    for line in out.splitlines():
        if line.rstrip().endswith("_tuco_eval_lm_eval_hook"):
            return float(line.split("|")[1])  # cumulative microseconds
    raise SystemExit("the hook was not imported at start-up: is tuco-eval installed in this interpreter?")


def startup_s() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> None:
    args = parser(__doc__).parse_args()
    runs = 10 if args.quick else 40
    hook = statistics.median(hook_import_us() for _ in range(runs)) / 1e6
    whole = statistics.median(startup_s() for _ in range(runs))
    print(f"runs={runs}: hook import {hook * 1000:.3f} ms, whole start-up {whole * 1000:.1f} ms")
    print(f"ratio: {hook / whole:.4f}")


if __name__ == "__main__":
    main()
