"""Slack surface: Bolt app factory, pure Block Kit builders, App Home, gateway, HTTP and Socket Mode.

Import from the module that defines a name (``aispend.slack.blocks``, ``aispend.slack.app``, …);
this file stays empty so the pure builders load without slack_bolt, starlette or uvicorn.
"""
