"""Set-up from a fresh clone (issue 14, item 6): the README's two commands, --version, and the shipped
example fivewhys.toml, which the README's --config commands use."""
import re
import subprocess
import sys
import tomllib
from datetime import datetime, timezone

from typer.testing import CliRunner

import agent
from agent.cli import app
from agent.slack.bot import parse_routes
from conftest import REPO
from tools.backends.config import load_backends, open_telemetry
from tools.domain.incident import SOURCES

runner = CliRunner()


def _quick_start() -> list[str]:
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_two_commands_and_the_first_makes_a_venv():
    first, second = _quick_start()
    # on an "externally managed" Python (Debian, Ubuntu) pip installs only inside a venv, so the line makes one
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && ")
    assert first.endswith("fivewhys demo")
    assert second == "scripts/test"


def test_ci_runs_the_readmes_test_command_and_the_script_makes_or_uses_a_venv():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _quick_start()[1] in [line.strip() for line in ci if not line.startswith("#")]
    script = (REPO / "scripts" / "test").read_text()
    assert "VIRTUAL_ENV" in script and "-m venv" in script and "python3-venv" in script
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "test")]).returncode == 0


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout == f"fivewhys {agent.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", agent.__version__)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "agent.__version__"}    # one source
    res = subprocess.run([sys.executable, "-m", "agent", "--version"], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == f"fivewhys {agent.__version__}"


def test_the_example_config_loads_with_the_projects_loaders(monkeypatch):
    example = REPO / "fivewhys.toml"
    cfg = load_backends(example)                              # what investigate / capture / serve read
    assert set(cfg.sources) == set(SOURCES)
    routes = parse_routes(tomllib.loads(example.read_text())["slack"]["routes"])
    assert routes["search"].channel and routes["token"].pagerduty
    monkeypatch.chdir(REPO)                                   # its paths are relative to the clone
    tel = open_telemetry(None, example, "search", datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc))
    try:
        assert all(tel.coverage(s).present for s in SOURCES)
    finally:
        tel.close()


def test_every_config_the_readme_names_is_shipped():
    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"--config (\S+)", readme))
    assert named == {"fivewhys.toml"} and (REPO / "fivewhys.toml").is_file()
    assert "docs/incident-format.md" in readme and (REPO / "docs" / "incident-format.md").is_file()


def test_the_docs_show_todays_prompt_version_and_demo_output():
    from prompts import PROMPT_VERSION
    readme = (REPO / "README.md").read_text()
    for text in (readme, (REPO / "docs" / "eval.md").read_text()):
        shown = set(re.findall(r"\b\d{4}-\d\d-\d\d\.\d+\b", text))        # prompt versions: a date and a number
        assert shown == {PROMPT_VERSION}, shown
    excerpt = readme.split("TokenService at Friday peak", 1)[1].split("```\n", 1)[1].splitlines()[:4]
    res = runner.invoke(app, ["demo"], env={"COLUMNS": "200"})
    for line in excerpt:                                       # the header and the first tool calls, as printed
        assert line in res.stderr, line
