"""What --help and option errors say (issue 14, item 8): readable metavars instead of Python types, counts
that must be 1 or more, and `-q` (--question) taken for --quiet."""
import re

import pytest
import typer.main
from typer.testing import CliRunner

from agent.cli import app
from factory import build

runner = CliRunner()


def _commands(group=None, path=()):
    group = group or typer.main.get_command(app)
    yield path, group
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _commands(cmd, (*path, name))


def test_help_shows_metavars_not_python_types():
    for path, cmd in _commands():
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, path
        assert not re.search(r"<[a-z][\w \[\],|]*>", res.stdout), (path, res.stdout)     # <list[str]>, <bool>
        assert "[x>=" not in res.stdout and "list[" not in res.stdout, path
        for p in cmd.params:
            if p.param_type_name == "option" and not p.is_flag:
                assert p.metavar and p.metavar.isupper(), (path, p.name)


@pytest.mark.parametrize("args", [["eval", "evals/incidents", "--trials", "0"],
                                  ["eval", "evals/incidents", "-j", "0"],
                                  ["investigate", "x", "--max-steps", "0"]])
def test_counts_are_one_or_more(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "must be 1 or more" in res.output


def test_q_is_the_question_and_says_so_when_given_a_directory(tmp_path):
    d = str(build(tmp_path / "inc"))
    res = runner.invoke(app, ["investigate", "-q", d])
    assert res.exit_code == 2
    assert "-q is --question, not --quiet" in " ".join(res.output.split())
    res = runner.invoke(app, ["investigate", d, "-q", "why?", "--quiet"])     # -q as documented still works
    assert res.exit_code == 0, res.output
