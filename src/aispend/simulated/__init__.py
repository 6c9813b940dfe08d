"""Simulated providers: a generated dataset and fake OpenAI/OpenRouter servers that serve it.

Used by ``aispend demo`` (the offline quick start) and by the tests; the production HTTP clients
talk to these servers unchanged, only the base URLs differ.
"""

from aispend.simulated.dataset import ACTIVITY_DAYS, ANY, Dataset, TokenTotals
from aispend.simulated.servers import (
    OPENAI_ADMIN_KEY,
    OPENAI_PROJECT_KEY,
    OPENROUTER_INFERENCE_KEY,
    OPENROUTER_MANAGEMENT_KEY,
    FakeOpenAI,
    FakeOpenRouter,
    Fault,
    Faults,
    RecordedRequest,
    SimulatedProviders,
    SimulatedServer,
    dumps_exact,
)

__all__ = [
    "ACTIVITY_DAYS",
    "ANY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_PROJECT_KEY",
    "OPENROUTER_INFERENCE_KEY",
    "OPENROUTER_MANAGEMENT_KEY",
    "Dataset",
    "FakeOpenAI",
    "FakeOpenRouter",
    "Fault",
    "Faults",
    "RecordedRequest",
    "SimulatedProviders",
    "SimulatedServer",
    "TokenTotals",
    "dumps_exact",
]
