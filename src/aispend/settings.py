"""Environment settings (DESIGN.md §3). Secrets and endpoints live here, never in the YAML file."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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


def secret(value: SecretStr | None) -> str | None:
    """The secret's text, or None when unset or blank."""
    if value is None:
        return None
    text = value.get_secret_value().strip()
    return text or None
