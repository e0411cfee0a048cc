"""Shared test fixtures. No test reaches the network or a real LLM."""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

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
