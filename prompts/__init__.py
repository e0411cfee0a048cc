"""Prompt templates (jinja2, StrictUndefined: a missing variable fails loudly)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

PROMPT_VERSION = "2026-11-24.1"   # part of the eval cache key: bump when a template changes meaning


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FunctionLoader(
        lambda name: resources.files(__name__).joinpath(name).read_text(encoding="utf-8")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True,
        autoescape=False)


def render(template: str, **variables: Any) -> str:
    return _env().get_template(template).render(**variables).strip()
