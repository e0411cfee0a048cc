"""User configuration: keys and defaults from the environment or a TOML file.

    # ~/.config/fivewhys/config.toml (or FIVEWHYS_CONFIG=path, or --config path)
    default_model = "anthropic:claude-sonnet-4-6"
    redact_emails = false
    [openai]
    base_url = "http://localhost:8000/v1"     # any OpenAI-compatible server
    api_key_env = "OPENAI_API_KEY"
    [anthropic]
    api_key_env = "ANTHROPIC_API_KEY"
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.models.base import ModelError
from tools.domain.errors import one_line


class ProviderSettings(BaseModel):
    """A provider's table: `[openai]`, `[anthropic]`, or any provider in agent.models.PROVIDERS."""
    model_config = ConfigDict(extra="forbid")
    base_url: str | None = Field(None, description="API base URL; for OpenAI, any compatible server's /v1 URL.")
    api_key_env: str | None = Field(None, description="Environment variable that holds the key "
                                                      "(keys never live in the file).")
    stream: bool = Field(True, description="Stream the model's text to the terminal as it arrives.")


class Settings(BaseModel):
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ProviderSettings]          # one table per provider, named as in its spec
    default_model: str | None = Field(None, description="provider:name used when --model is not given.")
    redact_emails: bool = Field(False, description="Also redact email addresses before text is sent to a provider.")

    def provider(self, name: str) -> ProviderSettings:
        return (self.model_extra or {}).get(name) or ProviderSettings()

    def api_key(self, provider: str, key_env: str) -> str | None:
        return os.environ.get(self.provider(provider).api_key_env or key_env)


def config_path() -> Path:
    env = os.environ.get("FIVEWHYS_CONFIG")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "fivewhys" / "config.toml"


def load_settings(path: Path | None = None) -> Settings:
    from agent.models import PROVIDERS
    path = path or config_path()
    if not path.exists():
        if os.environ.get("FIVEWHYS_CONFIG") and path == config_path():     # asked for by name: a typo is an error
            raise ModelError(f"FIVEWHYS_CONFIG={path}: no such file")
        return Settings()
    try:
        raw = tomllib.loads(path.read_text())
        unknown = sorted(set(raw) - set(Settings.model_fields) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"{unknown[0]}: not a setting (settings: {', '.join(Settings.model_fields)}, "
                             f"and a table per provider: {', '.join(PROVIDERS)})")
        return Settings.model_validate(raw)
    except (tomllib.TOMLDecodeError, ValidationError, ValueError, OSError) as e:
        raise ModelError(f"{path}: invalid configuration: {one_line(e)}") from None
