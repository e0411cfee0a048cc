"""`fivewhys --help` stays fast: the CLI module imports no engine, backend, renderer or SDK until a command runs."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("duckdb", "pydantic", "jinja2", "rich.markdown", "rich.pretty", "matplotlib", "httpx", "drain3", "numpy",
         "yaml", "agent.loop", "agent.session", "tools.toolset", "tools.backends.snapshot", "tools.backends.prometheus",
         "tools.backends.loki", "tools.backends.elasticsearch", "tools.backends.jaeger", "tools.backends.kubernetes",
         "tools.backends.consul", "openai", "anthropic", "slack_bolt")


def test_importing_the_cli_loads_nothing_heavy():
    code = f"import sys, agent.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_still_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "agent", "--help"], capture_output=True, text=True, check=True)
    for command in ("investigate", "demo", "eval", "simulate", "chat", "ask", "timeline", "serve", "doctor", "snapshot"):
        assert command in out.stdout


def test_help_is_drawn_without_typers_rich_formatter():
    # typer's rich help imports rich.markdown, rich.traceback and attrs: a third of `--help`'s start-up.
    code = ("import sys\nfrom agent.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in ('typer.rich_utils', 'rich.traceback', 'rich.markdown') if m in sys.modules),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout and out.stderr.strip() == ""
