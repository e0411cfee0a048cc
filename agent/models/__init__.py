"""Model providers, picked by a `provider:name` spec from one registry.

Adding a provider is one file and one line in PROVIDERS: the file defines a class with
`from_spec(spec) -> Model` (an LLM provider subclasses provider.ProviderModel and only maps wire formats),
or a model that takes no arguments."""
from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.models.base import Message, Model, ModelError, ToolCall, ToolSpec, Turn, Usage

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["Message", "Model", "ModelError", "ToolCall", "ToolSpec", "Turn", "Usage", "ModelSpec", "PROVIDERS",
           "load_model", "default_model_spec", "base_url_of"]

# provider → "module:class", imported only when used. LLM providers in order of preference for the
# default model (the first whose key is set).
PROVIDERS: dict[str, str] = {
    "heuristic": "agent.models.heuristic:HeuristicModel",
    "scripted": "agent.models.scripted:ScriptedModel",          # scripted:FILE, for tests and demos
    "anthropic": "agent.models.anthropic_provider:AnthropicModel",
    "openai": "agent.models.openai_provider:OpenAIModel",
}


@dataclass(frozen=True)
class ModelSpec:
    """A `provider:name` spec, with what a provider needs to build its model."""
    provider: str
    name: str                       # after the colon; may be empty
    base_url: str | None            # --base-url: wins over the config file and the environment
    settings: Settings


def provider_class(provider: str) -> Any:
    if provider not in PROVIDERS:
        raise ModelError(f"unknown model provider {provider!r}: use {', '.join(PROVIDERS)} "
                         f"(an LLM as provider:NAME, e.g. openai:gpt-5.1)")
    return pkgutil.resolve_name(PROVIDERS[provider])


def _settings(settings: Settings | None) -> Settings:
    from agent.settings import load_settings
    return settings if settings is not None else load_settings()


def load_model(spec: str | None = None, base_url: str | None = None) -> Model:
    """heuristic | scripted:FILE (tests, demos) | openai:NAME | anthropic:NAME | any registered provider."""
    settings = _settings(None)
    spec = spec or default_model_spec(settings)
    provider, _, name = spec.partition(":")
    cls = provider_class(provider)
    if not hasattr(cls, "from_spec"):
        return cls()
    return cls.from_spec(ModelSpec(provider, name, base_url, settings))


def default_model_spec(settings: Settings | None = None) -> str:
    """The configured default, else the first LLM provider with a key, else the built-in heuristic."""
    s = _settings(settings)
    if s.default_model:
        return s.default_model
    for provider in PROVIDERS:
        cls = provider_class(provider)
        if getattr(cls, "default_model", None) and s.api_key(provider, cls.key_env):
            return f"{provider}:{cls.default_model}"
    return "heuristic"


def base_url_of(spec: str, settings: Settings | None = None) -> str | None:
    """The server a spec's requests go to: the config file's base_url, else the provider's *_BASE_URL
    (None for the SDK's default and for local models). The same spec on another server is another model."""
    provider = spec.partition(":")[0]
    cls = pkgutil.resolve_name(PROVIDERS[provider]) if provider in PROVIDERS else None
    return cls.base_url_of(_settings(settings)) if hasattr(cls, "base_url_of") else None
