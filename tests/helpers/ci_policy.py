"""What a test does when something outside the repository is missing: skip, saying why; under
CI (`CI=true`, which `.ci/run` sets) fail instead, for what CI is meant to have (the shared data
folder and Chromium), since a skip there would hide a broken install. A GPU is never meant to be
there: the GPU lane skips everywhere CUDA is absent, CI included."""

from __future__ import annotations

import os

import pytest

CI_ENV = "CI"


def in_ci() -> bool:
    """True when `$CI` says so (true/1/yes, any case), as CI services and `.ci/run` set it."""
    return os.environ.get(CI_ENV, "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """Skip with `reason`, or under CI fail with it: CI has this, so its absence is a broken install."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true: CI must have it, so this fails instead of skipping",
                    pytrace=False)
    pytest.skip(reason)


LANE_DEVICE_ENV = "TUCO_GPU_LANE_DEVICE"  # e.g. "cpu": the GPU lane's dry run (scripts/gpu_lane.py --quick)


def lane_device():
    """The GPU lane's device: $TUCO_GPU_LANE_DEVICE, else cuda:0 where CUDA is, else a skip,
    everywhere, CI included: no CI machine has a GPU, so this skip is not a broken install."""
    import torch

    wanted = os.environ.get(LANE_DEVICE_ENV)
    if wanted:
        return torch.device(wanted)
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the GPU lane runs where one is (python scripts/gpu_lane.py)")
    return torch.device("cuda:0")
