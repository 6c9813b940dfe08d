"""aispend: one operating view of AI API spend across OpenAI and OpenRouter, inside Slack."""

__version__ = "0.1.0"
