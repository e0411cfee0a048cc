"""Errors of the domain, and the one way a pydantic error is told to a person or a model."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:                  # not imported for `fivewhys --help`: a ValidationError exists only once it is
    from pydantic import ValidationError


class TelemetryError(Exception):
    """A backend could not answer; the message is meant for the user as-is."""


class QueryError(TelemetryError):
    """The query asked for what no backend can answer (an invalid regex, an unknown field or aggregation): the
    caller's mistake, told back to it, not a failure to read the data."""


class SnapshotError(TelemetryError):
    """The snapshot cannot be used at all (missing directory, bad incident.yaml, ...)."""


def problems(e: ValidationError, root: str = "", limit: int | None = None) -> list[str]:
    """One 'where: what' line per problem; `root` names a problem that is about the whole object."""
    errs = e.errors()[:limit] if limit else e.errors()
    return [f"{'.'.join(map(str, err['loc'])) or root}: {err['msg']}" for err in errs]


def one_line(e: Exception, limit: int = 5) -> str:
    """Every problem of a validation error with the key it is about, or an error's first line."""
    pydantic = sys.modules.get("pydantic")
    if pydantic and isinstance(e, pydantic.ValidationError):
        return "; ".join(problems(e, limit=limit))
    return (str(e).splitlines() or [type(e).__name__])[0]
