"""The persona adapter's shipped training checkpoints: a series `sweep --finetuned` reads by step,
ending at the shipped adapter itself (no model is loaded here)."""

from __future__ import annotations

import json

from tuco_eval.demo.assets import PERSONA_ADAPTER_DIR
from tuco_eval.demo.assets import PERSONA_CHECKPOINTS_DIR as FOLDER
from tuco_eval.store.checkpoints import resolve_checkpoints

FILES = ("adapter_config.json", "adapter_model.safetensors")


def test_the_checkpoints_are_a_series_of_the_persona_adapter():
    series = resolve_checkpoints([str(FOLDER / "checkpoint-*")])
    assert [(c.label, c.step, c.kind) for c in series] == [
        ("step-8", 8, "adapter"), ("step-16", 16, "adapter"), ("step-24", 24, "adapter")]
    last = FOLDER / "checkpoint-24"
    for name in FILES:  # the series ends at the adapter the demo ships
        assert (last / name).read_bytes() == (PERSONA_ADAPTER_DIR / name).read_bytes()
    weights = [(FOLDER / f"checkpoint-{s}" / FILES[1]).read_bytes() for s in (8, 16, 24)]
    assert len(set(weights)) == 3
    shipped = json.loads((PERSONA_ADAPTER_DIR / FILES[0]).read_text())
    for step in (8, 16):
        config = json.loads((FOLDER / f"checkpoint-{step}" / FILES[0]).read_text())
        for key in ("base_model_name_or_path", "r", "lora_alpha", "layers_to_transform", "peft_type"):
            assert config[key] == shipped[key], key
        assert sorted(config["target_modules"]) == sorted(shipped["target_modules"])
        assert sorted(p.name for p in (FOLDER / f"checkpoint-{step}").iterdir()) == sorted(FILES)
