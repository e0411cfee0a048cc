"""`fivewhys chat`: an interactive investigation. Follow-ups keep the conversation and the evidence
ledger (ids stay stable); conversations are saved after every turn and resumable with --continue."""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from tools.domain.evidence import Evidence, EvidenceLedger
from agent.loop import Investigation, RunResult, StopReason
from agent.models import Model, ModelError, load_model
from agent.models.base import Message
from agent.render import report_markdown
from agent.report import Report
from agent.termtext import escape, plain
from agent.state import open_private, private_dir, state_dir, write_private
from tools.domain.redact import outgoing_value
from tools import ToolContext

HELP = """commands:
  /evidence ID      the evidence item: the query that produced it and its rows
  /report           the last report again
  /save [FILE]      write the last report as Markdown (default INCIDENT-ID.md)
  /timeline [FILE]  draw the incident's timeline (default timeline.png)
  /model [SPEC]     the model; with SPEC, switch (heuristic, anthropic:NAME, openai:NAME)
  /reset            forget the conversation and the evidence
  /help, /quit      (Ctrl-D quits too; Ctrl-C cancels a running turn)
Esc then Enter inserts a newline."""
HEURISTIC_FIRST = ("(the built-in heuristic does not read questions: it investigates the page; an LLM answers "
                   "what you ask, see docs/providers.md)")
NEEDS_LLM = ("The built-in heuristic answers one question: the investigation above. Free-form follow-up "
             "questions need an LLM: set ANTHROPIC_API_KEY or OPENAI_API_KEY (or use --model, see "
             "docs/providers.md), or type /evidence ID to look at any evidence.")


def _cell(value: object) -> object:
    """A table cell as a person reads it: 28.1, not 28.098360655737704."""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    return value


def chats_dir() -> Path:
    return state_dir() / "chats"


class ChatSession:
    """The REPL's state around one investigation: the last report, and the file the conversation is saved in."""

    def __init__(self, inv: Investigation, console: Console, snapshot: Path | None, base_url: str | None = None,
                 saved: SavedChat | None = None):
        self.inv, self.console, self.snapshot = inv, console, snapshot
        self.base_url = base_url          # an OpenAI-compatible server; kept for /model of the same provider
        self.path = saved.path if saved else \
            chats_dir() / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{inv.ctx.incident.id}.json"
        self.last: Report | None = saved.report if saved else None
        if saved:
            inv.messages = saved.messages

    @property
    def model(self) -> Model:
        return self.inv.model

    @property
    def telemetry(self):
        return self.inv.ctx.telemetry

    # ---- a question ---------------------------------------------------------------------------------------
    def ask(self, question: str) -> RunResult | None:
        if self.model.name == "heuristic":
            if self.last is not None:
                self.console.print(NEEDS_LLM)
                return None
            self.console.print(HEURISTIC_FIRST, style="dim")
        mark = len(self.inv.messages)
        try:
            res = self.inv.run(question)
        except KeyboardInterrupt:
            del self.inv.messages[mark:]        # a half-finished turn would leave tool calls unanswered
            self.console.print("[yellow]cancelled[/]; the conversation is as it was before that question")
            return None
        if res.stop_reason is StopReason.MODEL_ERROR:     # the run ended without an answer: forget the question
            del self.inv.messages[mark:]
            self.model_error(res.error or "")
            return None
        self.last = res.report
        self.console.print(Markdown(report_markdown(res.report, res.ledger, res.usage)))
        self.save()
        return res

    # ---- commands -----------------------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a /command; False means quit."""
        try:
            name, *args = shlex.split(line)
        except ValueError:
            name, args = line.split()[0], []
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.console.print(HELP)
        elif name == "/evidence":
            self.show_evidence(args[0] if args else "")
        elif name == "/report":
            self.console.print(Markdown(report_markdown(self.last, self.inv.ctx.ledger)) if self.last
                               else "no report yet: ask a question first")
        elif name == "/save":
            self.save_report(Path(args[0]) if args else Path(f"{self.inv.ctx.incident.id}.md"))
        elif name == "/timeline":
            self.timeline(Path(args[0]) if args else Path("timeline.png"))      # the CLI's default too
        elif name == "/model" and not args:
            self.console.print(f"model: {escape(self.model.name)} (/model SPEC switches)", emoji=False)
        elif name == "/model":
            try:
                same = args[0].partition(":")[0] == self.model.name.partition(":")[0]
                self.inv.model = load_model(args[0], base_url=self.base_url if same else None)
                self.base_url = self.base_url if same else None
                self.console.print(f"model: {escape(self.model.name)}", emoji=False)
            except ModelError as e:
                self.console.print(f"[red]error:[/] {escape(e)}", emoji=False)
        elif name == "/reset":
            self.last = None
            self.inv.messages, self.inv.ctx = [], ToolContext(self.telemetry, EvidenceLedger())
            self.save()                         # so --continue resumes after the reset, not before it
            self.console.print("conversation and evidence cleared")
        else:
            self.console.print(f"unknown command {escape(name)}; /help lists them", emoji=False)
        return True

    def save_report(self, path: Path) -> None:
        if not self.last:
            self.console.print("no report yet")
            return
        try:
            path.write_text(report_markdown(self.last, self.inv.ctx.ledger) + "\n")
        except OSError as e:
            self.cannot_write(str(path), e)
        else:
            self.console.print(f"saved {escape(path)}", emoji=False)

    def show_evidence(self, evidence_id: str) -> None:
        ev = self.inv.ctx.ledger.get(evidence_id)
        if ev is None:
            self.console.print(f"no evidence {escape(evidence_id) or '(give an id, e.g. /evidence E2)'}; "
                               f"there are {len(self.inv.ctx.ledger)} items", emoji=False)
            return
        self.console.print(f"[bold]{ev.id}[/] · {ev.source} · {ev.tool} · {escape(ev.service or '-')}\n"
                           f"{escape(ev.summary)}", highlight=False, emoji=False)
        self.console.print(f"query: {ev.tool}({', '.join(f'{k}={v!r}' for k, v in ev.filters.items())}) "
                           f"{ev.start.isoformat() if ev.start else ''} → {ev.end.isoformat() if ev.end else ''}",
                           highlight=False, markup=False, emoji=False)
        if ev.rows:
            cols = list(dict.fromkeys(k for r in ev.rows[:20] for k in r))[:8]
            t = Table(show_lines=False)
            for c in cols:                      # Text, not str: names and values from telemetry are not markup
                t.add_column(Text(plain(c)))
            for r in ev.rows[:20]:
                t.add_row(*[Text(plain(_cell(r.get(c, "")))[:60]) for c in cols])
            self.console.print(t)

    def timeline(self, out: Path) -> None:
        try:
            from agent.timeline import draw_timeline
        except ImportError as e:
            self.console.print(f"[red]timeline unavailable:[/] {escape(e)}", emoji=False)
            return
        rc = self.last.root_cause if self.last else None
        try:
            draw_timeline(self.telemetry, out, root_service=rc.service if rc else None,
                          onset=rc.onset if rc else None)
        except OSError as e:
            self.cannot_write(str(out), e)
            return
        except ValueError as e:         # an unsupported picture format
            self.console.print(f"[red]error:[/] {escape(e)}", highlight=False, emoji=False, soft_wrap=True)
            return
        self.console.print(f"timeline written to {escape(out)}", emoji=False)

    def model_error(self, msg: str) -> None:
        self.console.print(f"[red]model error:[/] {escape(msg)}", highlight=False, emoji=False, soft_wrap=True)

    def cannot_write(self, path: str, e: OSError) -> None:
        self.console.print(f"[red]error:[/] cannot write {escape(path)}: {escape(e.strerror or str(e))}",
                           highlight=False, emoji=False, soft_wrap=True)

    # ---- persistence --------------------------------------------------------------------------------------
    def save(self) -> None:
        doc = {"version": 1, "snapshot": str(self.snapshot) if self.snapshot else None, "model": self.model.name,
               "base_url": self.base_url,
               "messages": [m.model_dump(mode="json") for m in self.inv.messages],
               "evidence": [e.model_dump(mode="json") for e in self.inv.ctx.ledger.items],
               "report": self.last.model_dump(mode="json") if self.last else None}
        write_private(self.path, json.dumps(outgoing_value(doc)))     # a state file: private, secrets redacted


@dataclass
class SavedChat:
    """A conversation written by ChatSession.save, for --continue."""
    path: Path
    snapshot: Path
    model: str
    base_url: str | None
    messages: list[Message]
    ledger: EvidenceLedger
    report: Report | None

    @classmethod
    def read(cls, path: Path) -> "SavedChat":
        doc = json.loads(path.read_text())
        return cls(path, Path(doc["snapshot"]), doc["model"], doc.get("base_url"),
                   [Message.model_validate(m) for m in doc["messages"]],
                   EvidenceLedger(Evidence.model_validate(e) for e in doc["evidence"]),
                   Report.model_validate(doc["report"]) if doc.get("report") else None)


def latest_chat() -> Path | None:
    files = sorted(chats_dir().glob("*.json"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def repl(session: ChatSession) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event):
        event.current_buffer.insert_text("\n")
    private_dir(chats_dir())
    if sys.stdin.isatty():
        open_private(state_dir() / "chat_history").close()     # private before prompt_toolkit appends to it
        prompt = PromptSession(history=FileHistory(str(state_dir() / "chat_history")), key_bindings=keys).prompt
    else:                                 # a file or a pipe (prompt_toolkit reads nothing from a file): a line each
        def prompt(text: str) -> str:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            session.console.print(text + line.rstrip("\n"), markup=False, highlight=False, emoji=False)
            return line
    inc = session.telemetry.incident
    session.console.print(f"[bold]fivewhys chat[/] · {escape(inc.id)}: {escape(inc.title)} · model "
                          f"{escape(session.model.name)} · /help for commands", highlight=False, emoji=False)
    while True:
        try:
            line = prompt("> ").strip()
        except KeyboardInterrupt:
            continue                      # Ctrl-C at the prompt clears the line
        except EOFError:
            return 0
        if not line:
            continue
        if line.startswith("/"):
            if not session.command(line):
                return 0
            continue
        session.ask(line)
