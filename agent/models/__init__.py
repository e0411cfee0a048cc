"""Model providers, picked by a `provider:name` spec."""
from __future__ import annotations

import os

from agent.models.base import Message, Model, ModelError, ToolCall, ToolSpec, Turn, Usage, require_key

__all__ = ["Message", "Model", "ModelError", "ToolCall", "ToolSpec", "Turn", "Usage", "load_model",
           "default_model_spec", "base_url_of"]


def default_model_spec() -> str:
    from agent.settings import default_model_spec as spec
    return spec()


def base_url_of(spec: str, settings=None) -> str | None:
    """The server a spec's requests go to: the config file's base_url, else OPENAI_BASE_URL / ANTHROPIC_BASE_URL
    (None for the SDK's default and for local models). The same spec on another server is another model."""
    provider = spec.partition(":")[0]
    if provider not in ("openai", "anthropic"):
        return None
    if settings is None:
        from agent.settings import load_settings
        settings = load_settings()
    return getattr(settings, provider).base_url or os.environ.get(f"{provider.upper()}_BASE_URL")


def load_model(spec: str | None = None, base_url: str | None = None) -> Model:
    """heuristic | scripted is test-only | openai:NAME | anthropic:NAME (base_url for compatible servers)."""
    from tools.domain.redact import Redactor
    from agent.settings import load_settings
    settings = load_settings()
    spec = spec or default_model_spec()
    provider, _, name = spec.partition(":")
    if provider == "heuristic":
        from agent.models.heuristic import HeuristicModel
        return HeuristicModel()
    if provider == "scripted":
        from agent.models.scripted import load_script
        return load_script(name)
    if provider in ("openai", "anthropic"):
        if not name:
            raise ModelError(f"give a model name: {provider}:NAME")
        p = getattr(settings, provider)
        kwargs = dict(base_url=base_url or base_url_of(spec, settings), api_key=settings.api_key(provider),
                      stream=p.stream, redactor=Redactor(emails=settings.redact_emails))
        require_key(provider, kwargs["api_key"] or os.environ.get(f"{provider.upper()}_API_KEY"), kwargs["base_url"])
        if provider == "openai":
            from agent.models.openai_provider import OpenAIModel
            return OpenAIModel(name, **kwargs)
        from agent.models.anthropic_provider import AnthropicModel
        return AnthropicModel(name, **kwargs)
    raise ModelError(f"unknown model {spec!r}: use heuristic, openai:NAME or anthropic:NAME")
