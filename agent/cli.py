"""The `fivewhys` command line: the commands, gathered from their modules."""
from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from agent import __version__, cli_chat, cli_doctor, cli_eval, cli_investigate, cli_serve, cli_snapshot
from agent.cli_options import Command, Group, err, say_error

app = typer.Typer(help="fivewhys: find the root cause of a production incident, with cited evidence.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, cls=Group,
                  rich_markup_mode=None)
for name, command in (("investigate", cli_investigate.investigate), ("demo", cli_investigate.demo),
                      ("eval", cli_eval.eval_command), ("simulate", cli_eval.simulate_command),
                      ("mcp", cli_chat.mcp), ("chat", cli_chat.chat), ("ask", cli_investigate.ask),
                      ("timeline", cli_chat.timeline), ("serve", cli_serve.serve_command),
                      ("doctor", cli_doctor.doctor)):
    app.command(name, cls=Command)(command)
app.add_typer(cli_snapshot.app, name="snapshot")


def show_version(value: bool) -> None:
    if value:
        print(f"fivewhys {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                                       help="print the version and exit")] = False) -> None:
    """fivewhys: find the root cause of a production incident, with cited evidence."""


def main() -> None:
    """Entry point: no traceback reaches the user unless FIVEWHYS_DEBUG is set."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence for bad input
        if os.environ.get("FIVEWHYS_DEBUG"):
            raise
        say_error(f"{type(e).__name__}: {e} (set FIVEWHYS_DEBUG=1 for the traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
