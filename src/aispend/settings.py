"""Environment settings (README: Configure). Secrets and endpoints live here, never in the YAML file."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from aispend.providers.limits import Limits

_DEFAULT = Limits()


class Settings(BaseSettings):
    """Every variable of the contract; secrets are ``SecretStr`` so they never print by accident."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    aispend_config: str = Field(default="aispend.yaml", validation_alias="AISPEND_CONFIG")
    database_url: str = Field(default="sqlite:///aispend.db", validation_alias="DATABASE_URL")
    openai_admin_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_ADMIN_KEY")
    openai_base_url: str = Field(default="https://api.openai.com/v1", validation_alias="OPENAI_BASE_URL")
    openrouter_management_key: SecretStr | None = Field(
        default=None, validation_alias="OPENROUTER_MANAGEMENT_KEY"
    )
    openrouter_base_url: str = Field(
        default="https://openrouter.ai/api/v1", validation_alias="OPENROUTER_BASE_URL"
    )
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="PORT")
    # Caps that keep a poll bounded whatever a provider answers (README "Limits"; the defaults
    # are providers.limits.Limits's).
    max_pages: int = Field(default=_DEFAULT.max_pages, ge=1, validation_alias="AISPEND_MAX_PAGES")
    max_rows: int = Field(default=_DEFAULT.max_rows, ge=1, validation_alias="AISPEND_MAX_ROWS")
    max_page_bytes: int = Field(
        default=_DEFAULT.max_page_bytes, ge=1, validation_alias="AISPEND_MAX_PAGE_BYTES"
    )
    max_body_bytes: int = Field(
        default=_DEFAULT.max_body_bytes, ge=1, validation_alias="AISPEND_MAX_BODY_BYTES"
    )
    request_seconds: float = Field(
        default=_DEFAULT.request_seconds,
        gt=0,
        allow_inf_nan=False,
        validation_alias="AISPEND_REQUEST_SECONDS",
    )
    poll_seconds: float = Field(
        default=_DEFAULT.poll_seconds, gt=0, allow_inf_nan=False, validation_alias="AISPEND_POLL_SECONDS"
    )
    poll_requests: int = Field(default=_DEFAULT.poll_requests, ge=1, validation_alias="AISPEND_POLL_REQUESTS")
    poll_rows: int = Field(default=_DEFAULT.poll_rows, ge=1, validation_alias="AISPEND_POLL_ROWS")
    poll_bytes: int = Field(default=_DEFAULT.poll_bytes, ge=1, validation_alias="AISPEND_POLL_BYTES")
    # How often a replica that does not lead tries to take over (README: Production, Replicas);
    # at most one poll interval whatever is set here.
    leader_retry_seconds: float = Field(
        default=30.0, gt=0, allow_inf_nan=False, validation_alias="AISPEND_LEADER_RETRY_SECONDS"
    )
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="LOG_FORMAT")

    def secret_values(self) -> list[str]:
        """Every secret this process holds, for the log redaction filter."""
        values = [
            secret(value)
            for value in (
                self.openai_admin_key,
                self.openrouter_management_key,
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
            )
        ]
        try:
            values.append(make_url(self.database_url).password)
        except Exception:  # an unparsable URL is reported where it is used, not here
            pass
        return [value for value in values if value]

    @field_validator("openai_base_url", "openrouter_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        """Checked at start-up, so a typo is one clear line instead of an httpx traceback mid-poll."""
        default = cls.model_fields[info.field_name or ""].default
        text = value.strip()
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL:
            url = None
        if (
            url is None
            or url.scheme not in ("http", "https")
            or not url.host
            or any(c.isspace() for c in text)
        ):
            shown = "a value with credentials in it" if "@" in text else repr(value)  # never echo a secret
            raise ValueError(f"must be an http(s) URL such as {default}, got {shown}")
        return text


def secret(value: SecretStr | None) -> str | None:
    """The secret's text, or None when unset or blank."""
    if value is None:
        return None
    text = value.get_secret_value().strip()
    return text or None
