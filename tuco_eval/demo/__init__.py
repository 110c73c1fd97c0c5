"""The offline demo: a real pair (SmolLM2-135M-Instruct + this project's LoRA adapter) end to end."""
