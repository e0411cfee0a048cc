"""Shared test fixtures. No test reaches the network or a real LLM."""
from __future__ import annotations

import os
import shutil
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
    """Transcripts, chat history and caches go to a per-test directory, never the user's."""
    monkeypatch.setenv("FIVEWHYS_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def demo_dir() -> Path:
    if not (DEMO / "incident.yaml").exists():
        pytest.fail("the demo incident is missing from evals/incidents/search-token-peak")
    return DEMO
