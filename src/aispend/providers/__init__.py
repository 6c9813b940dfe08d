"""Provider clients: OpenAI and OpenRouter spend APIs → normalized records (no DB, no Slack)."""

from aispend.providers.errors import (
    BadRequest,
    MalformedResponse,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)
from aispend.providers.http import JsonApi
from aispend.providers.openai import USAGE_ENDPOINTS, CostsPage, OpenAIClient
from aispend.providers.openrouter import OpenRouterClient

__all__ = [
    "USAGE_ENDPOINTS",
    "BadRequest",
    "CostsPage",
    "JsonApi",
    "MalformedResponse",
    "OpenAIClient",
    "OpenRouterClient",
    "PermissionDenied",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "redact",
]
