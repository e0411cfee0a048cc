"""What the commands share: their common options, and one way to say an error (one line on stderr).

Exit codes: 2 for bad input (a missing directory, a broken file, a model that cannot load), 1 for a run that
failed (the model stopped answering), 130 for Ctrl-C."""
from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Iterator, NoReturn, Optional, TypeVar

import typer
from rich.console import Console

from agent.config import Budgets
from agent.termtext import escape

err = Console(stderr=True)
T = TypeVar("T")

IncidentArgument = Annotated[Optional[Path], typer.Argument(help="incident snapshot directory",
                                                            show_default=False)]
SnapshotOption = Annotated[Path, typer.Option("--snapshot", help="incident snapshot directory")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="provider:name, e.g. heuristic, anthropic:claude-sonnet-4-6, openai:gpt-5.1")]
BaseUrlOption = Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server URL")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print the report as JSON on stdout, nothing else")]
QuietFlag = Annotated[bool, typer.Option("--quiet", help="do not show tool calls as they run")]
MaxStepsOption = Annotated[int, typer.Option("--max-steps", min=1, help="model turns before giving up")]
ForceFlag = Annotated[bool, typer.Option("--force", help="--out may hold files: its snapshot files are replaced, "
                                                         "anything else is kept")]
MAX_STEPS = Budgets().max_steps


def why_this_model(given: str | None, given_by: str = "--model") -> str:
    """Why the model that runs was chosen: given on the command line, the config file's default_model, a
    provider's key in the environment (a paid model then runs without being asked for), or the built-in
    default. Mirrors agent.models.default_model_spec."""
    from agent.models import ModelError, default_model_spec
    from agent.settings import config_path, load_settings
    if given:
        return given_by
    try:
        settings, spec = load_settings(), default_model_spec()
    except ModelError:
        return "the configured default"          # the same error stops the run as it opens
    if settings.default_model:
        return f"default_model in {config_path()}"
    provider = spec.partition(":")[0]
    if provider != "heuristic":
        key = getattr(getattr(settings, provider, None), "api_key_env", None) or f"{provider.upper()}_API_KEY"
        return f"{key} is set; --model heuristic runs the built-in investigator, with no key and no cost"
    return "the built-in default: no --model, no default_model, no ANTHROPIC_API_KEY or OPENAI_API_KEY"


def say_model(name: str, why: str) -> None:
    """One header line on stderr before a run: which model, and why that one."""
    err.print(f"[dim]model: {escape(name)} ({escape(why)})[/]", highlight=False, soft_wrap=True, emoji=False)


def say_error(message: object) -> None:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)


def warn(message: object) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)


def fail(message: object, code: int = 2) -> NoReturn:
    """One error line, then exit: 2 for bad input, 1 for a run that failed."""
    say_error(message)
    raise typer.Exit(code)


@contextmanager
def bad_input(*errors: type[Exception]) -> Iterator[None]:
    """Errors of these types raised in the block are the user's input: one line each, exit 2."""
    try:
        yield
    except errors as e:
        fail(e)


@contextmanager
def open_or_fail(opening: AbstractContextManager[T], *errors: type[Exception]) -> Iterator[T]:
    """Enter `opening` (an investigation, the tools): these errors while it opens are bad input, exit 2;
    the same errors later, inside the block, are not the user's input and go on up."""
    with ExitStack() as stack:
        with bad_input(*errors):
            opened = stack.enter_context(opening)
        yield opened
