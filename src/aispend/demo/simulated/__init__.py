"""Simulated providers: a generated dataset and fake OpenAI/OpenRouter servers that serve it.

Used by ``aispend demo`` (the offline quick start) and by the tests; the production HTTP clients
talk to these servers unchanged, only the base URLs differ.
"""
