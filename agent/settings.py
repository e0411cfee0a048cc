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

from pydantic import BaseModel, Field, ValidationError

from agent.models.base import ModelError
from tools.domain.errors import one_line

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-5.1"}


class ProviderSettings(BaseModel):
    base_url: str | None = Field(None, description="API base URL; for OpenAI, any compatible server's /v1 URL.")
    api_key_env: str | None = Field(None, description="Environment variable that holds the key (keys never live in the file).")
    stream: bool = Field(True, description="Stream the model's text to the terminal as it arrives.")


class Settings(BaseModel):
    default_model: str | None = Field(None, description="provider:name used when --model is not given.")
    redact_emails: bool = Field(False, description="Also redact email addresses before text is sent to a provider.")
    openai: ProviderSettings = Field(default_factory=ProviderSettings, description="OpenAI or compatible server.")
    anthropic: ProviderSettings = Field(default_factory=ProviderSettings, description="Anthropic Messages API.")

    def api_key(self, provider: str) -> str | None:
        p: ProviderSettings = getattr(self, provider)
        return os.environ.get(p.api_key_env or f"{provider.upper()}_API_KEY")


def config_path() -> Path:
    env = os.environ.get("FIVEWHYS_CONFIG")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "fivewhys" / "config.toml"


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    if not path.exists():
        if os.environ.get("FIVEWHYS_CONFIG") and path == config_path():     # asked for by name: a typo is an error
            raise ModelError(f"FIVEWHYS_CONFIG={path}: no such file")
        return Settings()
    try:
        return Settings.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError, OSError) as e:
        raise ModelError(f"{path}: invalid configuration: {one_line(e)}") from None


def default_model_spec(settings: Settings | None = None) -> str:
    """The configured default, else the first provider with a key, else the built-in heuristic."""
    s = settings or load_settings()
    if s.default_model:
        return s.default_model
    for provider in ("anthropic", "openai"):
        if s.api_key(provider):
            return f"{provider}:{DEFAULT_MODELS[provider]}"
    return "heuristic"
