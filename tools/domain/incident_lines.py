"""Every problem of an incident.yaml with its line, for `snapshot validate`: the reader (incident.load_incident)
stops at the first with one line for the user; a validator lists them all, each where it is in the file."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tools.domain.incident import Incident

Located = tuple[int | None, str]          # (line, what is wrong)


def incident_problems(f: Path, error: Exception) -> list[Located]:
    """The problems of incident.yaml `f`, which the reader refused with `error`: each field it gets wrong, with
    the field's line; else the reader's own message, with the line it names."""
    fallback = [_located(f, str(error))]
    if not f.is_file():                   # a pipe would block the read for ever, a directory fail it: the reader said
        return fallback
    try:
        text = f.read_bytes().decode("utf-8", errors="replace")
        root, data = yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, OSError):
        return fallback                   # the reader's message has the YAML error's line
    if not isinstance(data, dict) or data.get("format", 1) != 1:
        return fallback
    try:
        inc = Incident.model_validate(data)
    except ValidationError as e:
        return [(line_of(root, err["loc"]), f"{'.'.join(map(str, err['loc'])) or 'incident'}: {err['msg']}")
                for err in e.errors()]
    if inc.window.start >= inc.window.end:
        return [(line_of(root, ("window", "start")), "window.start must be before window.end")]
    return fallback                       # what the reader refused is not about a field (a key given twice, …)


def line_of(node: Any, loc: tuple) -> int | None:
    """The line of the key at `loc` (a path of keys and indexes) in a composed YAML document; when a key is
    missing, the line of the nearest one above it (None at the top: the field is missing from the file)."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                       None)
            if hit is None:
                return line
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _located(f: Path, message: str) -> Located:
    """The reader's message without the file name it starts with, and the line after it, if any."""
    m = re.match(rf"{re.escape(str(f))}(?::(\d+))?: (.*)", message, re.S)
    if m:
        return (int(m.group(1)) if m.group(1) else None), m.group(2)
    return None, message.split(": ", 1)[-1]
