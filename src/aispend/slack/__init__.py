"""Slack surface (DESIGN.md §5): Bolt app factory, Block Kit builders, App Home, gateway, HTTP."""

from aispend.slack.app import Answer, answer, build_app
from aispend.slack.client import make_web_client
from aispend.slack.gateway import SlackGateway
from aispend.slack.home import HomeAudience, publish_home, republish_homes
from aispend.slack.socket import start_socket_mode
from aispend.slack.web import Metrics, create_web_app, serve_http

__all__ = [
    "Answer",
    "HomeAudience",
    "Metrics",
    "SlackGateway",
    "answer",
    "build_app",
    "create_web_app",
    "make_web_client",
    "publish_home",
    "republish_homes",
    "serve_http",
    "start_socket_mode",
]
