"""Provider clients: OpenAI and OpenRouter spend APIs → normalized records (no DB, no Slack).

Import from the module that defines a name (``aispend.providers.openai``, ``.errors``, …).
"""
