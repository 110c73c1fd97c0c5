"""Prompt sets of the paper's measurement experiments, each from the Hub or local data, seeded."""

from tuco_eval.core.batching import render_chat
from tuco_eval.experiments.prompts.base import Prompt, user_turn
from tuco_eval.experiments.prompts.chat import chat_prompts
from tuco_eval.experiments.prompts.harmful import (
    advbench_prompts,
    gcg_prompts,
    language_prompts,
    read_gcg,
    read_translations,
)
from tuco_eval.experiments.prompts.many_shot import many_shot_prompts
from tuco_eval.experiments.prompts.web import web_prompts

__all__ = [
    "Prompt",
    "advbench_prompts",
    "chat_prompts",
    "gcg_prompts",
    "language_prompts",
    "many_shot_prompts",
    "read_gcg",
    "read_translations",
    "render_chat",
    "user_turn",
    "web_prompts",
]
