"""The public name of lm-eval's `tuco_scaled` model: `tuco_eval.lm:TucoScaledLM` (the
`lm_eval.models` entry point, and imports written before the package was laid out by layer).
The class lives in `tuco_eval.harness.tuco_scaled`."""

from tuco_eval.harness.tuco_scaled import TucoScaledLM

__all__ = ["TucoScaledLM"]
