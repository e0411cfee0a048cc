"""Prompt templates (jinja2, StrictUndefined: a missing variable fails loudly)."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from tools.domain.controls import without_controls
from tools.domain.fold import Folded
from tools.domain.taxonomy import CATEGORIES, TAXONOMY
from tools.toolset import SHARED_PARAMETERS

PROMPT_VERSION = "2026-12-03.2"   # part of the eval cache key: bump when a template changes meaning


# Every tag the templates quote untrusted text in, opened or closed, in any case or spacing
# ("</TOOL-RESULT>", "< /alert >", "&lt;question"), as "<" or the look-alikes a model may read as one.
MARKER = re.compile(r"(?:<|&lt;|\uff1c|\ufe64)(?=\s*/?\s*(?:tool[-_\s]*result|alert|question|truth|chain)\b)", re.I)


def quote_untrusted(text: str) -> str:
    """Telemetry cannot close or open the quoting markers it is shown inside, also when it hides them with
    look-alike or invisible characters ("<\u200b/tool-result>"): markers are found in the folded view.
    Escape sequences and control characters (ESC, BEL, …) are left out: no reader of a prompt needs them."""
    return Folded(without_controls(str(text))).sub(MARKER, "‹")[0]


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FunctionLoader(
        lambda name: resources.files(__name__).joinpath(name).read_text(encoding="utf-8")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True,
        autoescape=False)
    env.filters["quoted"] = quote_untrusted
    env.globals.update(taxonomy=TAXONOMY, categories=CATEGORIES,    # system.j2's list of kinds
                       shared_parameters=SHARED_PARAMETERS)
    return env


def render(template: str, **variables: Any) -> str:
    return _env().get_template(template).render(**variables).strip()
