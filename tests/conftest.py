"""Shared test fixtures. No test reaches the network or a real LLM."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "evals" / "incidents" / "search-token-peak"


def need_binary(name: str) -> str:
    """The path of a server binary a test needs; skip with a reason when it is missing, or fail in CI
    (FIVEWHYS_REQUIRE_SERVERS=1), where a skipped real-server test would hide a broken install."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (Debian package; .ci/run installs it)"
        if os.environ.get("FIVEWHYS_REQUIRE_SERVERS") == "1":
            pytest.fail(msg + " and FIVEWHYS_REQUIRE_SERVERS=1")
        pytest.skip(msg)
    return path


def free_ports(n: int = 1) -> list[int]:
    """n distinct loopback ports free now (held together while chosen; the servers bind them a moment later)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextmanager
def server_process(args: list[str], ready_url: str, log: Path, env: dict | None = None,
                   timeout_s: float = 60) -> Iterator[subprocess.Popen]:
    """A server started as a child process, yielded once `ready_url` answers 200, and stopped (and reaped)
    when the block ends, however it ends. Its stderr goes to `log`, whose tail is shown if it dies."""
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"{Path(args[0]).name} exited ({proc.returncode}): {log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{Path(args[0]).name} was not ready in {timeout_s:.0f} s: {log.read_text()[-800:]}")
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """End a server the tests started: SIGTERM, then SIGKILL if it ignores that (it must not outlive the run)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def closed_at_end(factory) -> Iterator:
    """For a fixture: yields a maker of factory(…) objects (queues with worker threads), each closed when the
    test ends, passed or failed."""
    made = []

    def make(*args, **kw):
        made.append(factory(*args, **kw))
        return made[-1]
    yield make
    for q in made:
        q.close()


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path, monkeypatch):
    """Transcripts, chat history and caches go to a per-test directory, never the user's; no keys leak in."""
    monkeypatch.setenv("FIVEWHYS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "empty-config.toml").write_text("")
    monkeypatch.setenv("FIVEWHYS_CONFIG", str(tmp_path / "empty-config.toml"))
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Real model requests (or any traffic off this machine) are impossible in tests."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and "/" not in host:
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real(self, address)
    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def demo_dir() -> Path:
    if not (DEMO / "incident.yaml").exists():
        pytest.fail("the demo incident is missing from evals/incidents/search-token-peak")
    return DEMO


# ---- Slack: a stand-in Web API, bots and page servers, all stopped when the test ends, passed or failed --------
@pytest.fixture
def slack():
    from standin_slack import StandInSlack
    s = StandInSlack()
    yield s
    s.close()


@pytest.fixture
def new_bot(slack):
    """new_bot(snapshot, routes, …) → a Bot posting to the stand-in Slack. Its queue workers are stopped when
    the test ends, so none posts on into the next test (or after pytest's summary). Posts are not paced
    (per_channel_s=0) unless a test asks: Slack's 1 a second per channel is tested on its own."""
    from slack_sdk import WebClient
    from agent.slack.bot import Bot
    made = []

    def make(*args, **kw):
        made.append(Bot(WebClient(base_url=slack.url, token="xoxb-test"), *args, **{"per_channel_s": 0, **kw}))
        return made[-1]
    yield make
    for bot in made:
        bot.close()
    assert not [t for bot in made for t in bot.queue.workers if t.is_alive()], "a queue worker outlived its test"


@pytest.fixture
def settle(monkeypatch):
    """settle(bot): wait until bolt's listeners have run (bolt acks Slack first and runs them after, in a pool
    made here so it can be shut down), then until the bot's queue is empty."""
    import slack_bolt.app.app
    from standin_slack import ListenerPool
    pools: list[ListenerPool] = []

    def pool(**kw):
        pools.append(ListenerPool(**kw))
        return pools[-1]
    monkeypatch.setattr(slack_bolt.app.app, "ThreadPoolExecutor", pool)

    def settle(bot):
        for p in pools:
            p.settle()
        bot.queue.join()
    yield settle
    for p in pools:
        p.shutdown(wait=True)


@pytest.fixture
def serve(new_bot, settle):
    """serve(bot) → (server, url): the page server on a loopback port, stopped and closed when the test ends
    (before its bot and bolt's pool)."""
    import threading
    from agent.slack.server import make_server
    started = []

    def start(bot):
        srv = make_server(bot, "127.0.0.1", 0)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        started.append((srv, t))
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"
    yield start
    for srv, t in started:
        srv.shutdown()
        srv.server_close()
        t.join(10)
    assert not [t for _, t in started if t.is_alive()], "a page server outlived its test"
