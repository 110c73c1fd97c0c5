"""The skip policy (tests/helpers/ci_policy.py): a missing shared-data folder or browser skips, saying why,
except under CI=true, where it fails; the GPU lane skips everywhere CUDA is absent, CI included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.browser import launch_browser
from tests.helpers.ci_policy import LANE_DEVICE_ENV, lane_device
from tests.helpers.shared_data import REPO_ROOT, require_shared_data

SKIPPED, FAILED = pytest.skip.Exception, pytest.fail.Exception


def outcome(call) -> tuple[type | None, str]:
    """(Skipped or Failed, message) that `call` raised; caught here, so a wrong one fails this test.

    Run in a thread of its own: a session browser another test opened keeps Playwright's event
    loop on the main thread, where a second sync Playwright refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    def caught() -> tuple[type | None, str]:
        try:
            call()
        except (SKIPPED, FAILED) as raised:
            return type(raised), str(raised)
        return None, ""

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(caught).result()


@pytest.fixture
def no_shared_data(monkeypatch, tmp_path):
    monkeypatch.setenv("TUCO_SHARED_DATA", str(tmp_path / "absent"))


@pytest.mark.parametrize(("ci", "expected"), [(None, SKIPPED), ("false", SKIPPED), ("true", FAILED),
                                              ("1", FAILED), ("YES", FAILED)])
def test_missing_shared_data_skips_or_fails_under_ci(no_shared_data, monkeypatch, ci, expected):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    kind, message = outcome(require_shared_data)
    assert kind is expected and "no shared/data found" in message


def test_missing_or_unstartable_browser_fails_under_ci(monkeypatch, tmp_path):
    not_a_browser = tmp_path / "chromium"
    not_a_browser.write_text("#!/bin/sh\nexit 3\n")
    not_a_browser.chmod(0o755)
    for path, message in ((tmp_path / "absent", "no Chromium at"), (not_a_browser, "does not start")):
        monkeypatch.setenv("TUCO_CHROMIUM", str(path))
        monkeypatch.delenv("CI", raising=False)
        kind, said = outcome(launch_browser)
        assert kind is SKIPPED and message in said
        monkeypatch.setenv("CI", "true")
        kind, said = outcome(launch_browser)
        assert kind is FAILED and message in said


def test_the_gpu_lane_skips_under_ci_too(monkeypatch):
    import torch

    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv(LANE_DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    kind, message = outcome(lane_device)  # CI machines have no GPU: not a broken install
    assert kind is SKIPPED and "no CUDA device" in message
    monkeypatch.setenv(LANE_DEVICE_ENV, "cpu")  # the lane's dry run
    assert lane_device() == torch.device("cpu")


def test_shared_data_is_a_folder(shared_data):
    assert shared_data.is_dir()  # the probe the next test runs in a fresh pytest


def test_a_ci_run_fails_on_the_missing_folder_and_a_local_run_lists_the_skip(tmp_path):
    probe = f"{Path(__file__).name}::test_shared_data_is_a_folder"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TUCO_SHARED_DATA"] = str(tmp_path / "absent")
    command = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", f"tests/{probe}"]
    local = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0 and "SKIPPED [1]" in local.stdout and "no shared/data" in local.stdout
    ci = subprocess.run(command, cwd=REPO_ROOT, env={**env, "CI": "true"}, capture_output=True, text=True,
                        timeout=300)
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "CI=true: CI must have it, so this fails instead of skipping" in ci.stdout


def test_make_test_lists_skips_and_ci_sets_ci():
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    recipe = lines[next(i for i, line in enumerate(lines) if line.startswith("test:")) + 1]
    assert "pytest" in recipe and " -rs" in recipe
    assert 'export CI="${CI:-true}"' in (REPO_ROOT / ".ci" / "run").read_text()
