"""tuco-eval: measure and scale the contribution of fine-tuning to each response of an LLM."""

__version__ = "0.1.0"
