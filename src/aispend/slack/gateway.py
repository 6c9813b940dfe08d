"""Outbound Slack calls used by alerts, the digest and Home refreshes (one narrow seam)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient


class SlackGateway:
    """Thin wrapper over ``WebClient`` so jobs never build API calls themselves.

    Errors are ``slack_sdk.errors.SlackApiError`` (after the client's retries), left to the
    caller, which knows whether to retry the whole job.
    """

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None
    ) -> str:
        """Post a message (``text`` is the notification fallback); returns its ``ts``."""
        response = self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
        )
        return str(response["ts"])

    def upload_png(
        self,
        channel: str,
        data: bytes,
        filename: str,
        title: str,
        initial_comment: str | None = None,
        *,
        alt_text: str | None = None,
        thread_ts: str | None = None,
    ) -> str | None:
        """Share a PNG in ``channel`` via ``files_upload_v2``; returns the file id when Slack sends one."""
        response = self.client.files_upload_v2(
            channel=channel,
            content=data,
            filename=filename,
            title=title,
            alt_txt=alt_text or title,
            initial_comment=initial_comment,
            thread_ts=thread_ts,
        )
        file = response.get("file")
        return str(file["id"]) if isinstance(file, dict) and "id" in file else None

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self.client.views_publish(user_id=user_id, view=view)
