"""What pyproject declares is what the floor lane installs, and the GPU machine lies within it."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="reads pyproject with Python 3.11's tomllib")


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}


def _pins(name: str) -> dict[str, str]:
    """{package: version} of a constraints file's `name==version` lines."""
    lines = (ROOT / "constraints" / name).read_text().splitlines()
    pairs = [line.split("#")[0].strip().split("==") for line in lines]
    return {canonicalize_name(pair[0]): pair[1] for pair in pairs if len(pair) == 2}


def test_every_lower_bound_is_the_floor_lane_version():
    floors = _pins("floor.txt")
    for name, requirement in _declared().items():
        lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        floor = floors.get(name)
        assert floor is not None and lower == [Version(floor)], f"{name}: {requirement.specifier} vs floor.txt {floor}"
    assert floors.keys() <= _declared().keys()


@pytest.mark.parametrize("name", ["torch", "transformers", "accelerate", "peft", "numpy"])
def test_the_gpu_machine_versions_are_supported(name):
    assert _declared()[name].specifier.contains(_pins("gpu-machine.txt")[name])
