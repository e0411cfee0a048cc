"""What the commands share: their common options, and one way to say an error (one line on stderr).

Exit codes: 2 for bad input (a missing directory, a broken file, a model that cannot load), 1 for a run that
failed (the model stopped answering), 130 for Ctrl-C."""
from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from agent.termtext import escape

err = Console(stderr=True)
T = TypeVar("T")


def at_least_one(value: int) -> int:
    """A count that must be 1 or more (a callback, not min=1, which help would print as `[x>=1]`)."""
    if value < 1:
        raise typer.BadParameter("must be 1 or more")
    return value


def _plain_type(param: Any) -> Any:
    """Help shows an option's metavar (DIR, N, SPEC) and nothing for a flag or an argument (its name is its
    metavar): typer would print Python types there (`<list[str]>`, `<int range>`, `<bool>`)."""
    if param is not None:
        option = param.param_type_name == "option" and not param.is_flag
        shown = param.metavar if option else None
        param.display_type_rich = lambda ctx: shown            # type: ignore[method-assign]
    return param


class _PlainTypes:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for p in self.params:
            _plain_type(p)

    def get_help_option(self, ctx: Any) -> Any:
        return _plain_type(super().get_help_option(ctx))


class Command(_PlainTypes, TyperCommand):
    """A command whose help reads DIR, N, SPEC instead of Python types."""


class Group(_PlainTypes, TyperGroup):
    """A group of commands with the same help for its own options (--version, --help)."""


IncidentArgument = Annotated[Optional[Path], typer.Argument(metavar="DIR", help="incident snapshot directory",
                                                            show_default=False)]
SnapshotDir = Annotated[Path, typer.Argument(metavar="DIR", help="incident snapshot directory", show_default=False)]
SnapshotOption = Annotated[Path, typer.Option("--snapshot", metavar="DIR", help="incident snapshot directory")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="SPEC", help="provider:name, e.g. heuristic, anthropic:claude-sonnet-4-6, openai:gpt-5.1")]
BaseUrlOption = Annotated[Optional[str], typer.Option("--base-url", metavar="URL",
                                                      help="OpenAI-compatible server URL")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print the report as JSON on stdout, nothing else")]
QuietFlag = Annotated[bool, typer.Option("--quiet", help="do not show tool calls as they run")]
MaxStepsOption = Annotated[int, typer.Option("--max-steps", metavar="N", callback=at_least_one,
                                             help="model turns before giving up (1 or more)")]
ForceFlag = Annotated[bool, typer.Option("--force", help="--out may hold files: its snapshot files are replaced, "
                                                         "anything else is kept")]
MAX_STEPS = 30                    # agent.config.MAX_STEPS, without importing pydantic for --help


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
        return f"{key_env(settings, provider)} is set; --model heuristic runs the built-in investigator, with no key " \
               f"and no cost"
    return "the built-in default: no --model, no default_model, no ANTHROPIC_API_KEY or OPENAI_API_KEY"


def key_env(settings: Any, provider: str) -> str:
    """The environment variable that holds a provider's key: its table's api_key_env, else PROVIDER_API_KEY."""
    return getattr(getattr(settings, provider, None), "api_key_env", None) or f"{provider.upper()}_API_KEY"


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
