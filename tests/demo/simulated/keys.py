"""Bearer keys the tests hand to the fake servers to prove "no permission" answers; the servers
accept them only when a test sets them, so they are not part of the demo package."""

from __future__ import annotations

from typing import Final

OPENAI_PROJECT_KEY: Final = "sk-proj-simulated"
OPENROUTER_INFERENCE_KEY: Final = "sk-or-v1-simulated-inference"
