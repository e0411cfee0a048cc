"""The registries: a model provider and a telemetry backend are each one file plus one registry line."""
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import pytest

from agent.models import PROVIDERS, ModelError, ModelSpec, Turn, base_url_of, default_model_spec, load_model
from tools.backends.base import BackendConfig, Coverage, Incident, TelemetryError
from tools.backends.config import BACKENDS, load_backends, open_telemetry

ROOT = Path(__file__).resolve().parent.parent


class FakeModel:
    """A provider registered by a test: built from its spec, like any other."""

    def __init__(self, spec: ModelSpec):
        self.name, self.spec = f"fake:{spec.name}", spec

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "FakeModel":
        return cls(spec)

    def turn(self, messages, tools, on_text=None) -> Turn:
        return Turn(text="fake")


def test_a_registered_provider_is_loadable_by_spec(monkeypatch):
    monkeypatch.setitem(PROVIDERS, "fake", "test_registries:FakeModel")
    model = load_model("fake:m1", base_url="http://127.0.0.1:9")
    assert model.name == "fake:m1" and model.spec.base_url == "http://127.0.0.1:9"
    assert base_url_of("fake:m1") is None


def test_an_unknown_provider_names_the_known_ones():
    with pytest.raises(ModelError, match="unknown model provider 'gemini': use heuristic, scripted, anthropic, openai"):
        load_model("gemini:pro")


def test_a_missing_key_fails_before_the_sdk_is_imported(tmp_path):
    import subprocess
    import sys
    code = ("import sys; from agent.models import load_model, ModelError\n"
            "try: load_model('anthropic:claude-sonnet-4-6')\n"
            "except ModelError as e: print(e, 'anthropic' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "FIVEWHYS_CONFIG": str(tmp_path / "none.toml"), "HOME": str(tmp_path)}
    (tmp_path / "none.toml").write_text("")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "ANTHROPIC_API_KEY is not set False", out.stderr


def test_the_heuristic_is_registered_and_the_default_without_keys():
    assert default_model_spec() == "heuristic" and load_model("heuristic").name == "heuristic"


def test_provider_tables_follow_the_registry_and_unknown_keys_are_rejected(monkeypatch, tmp_path):
    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("FIVEWHYS_CONFIG", str(cfg))
    cfg.write_text('[openai]\nbase_url = "http://127.0.0.1:8000/v1"\n')
    assert base_url_of("openai:qwen3-32b") == "http://127.0.0.1:8000/v1"
    cfg.write_text('[openai]\nbase_ur = "http://127.0.0.1:8000/v1"\n')
    with pytest.raises(ModelError, match=r"config.toml: invalid configuration: openai.base_ur: Extra inputs"):
        load_model("heuristic")
    cfg.write_text('defualt_model = "heuristic"\n')
    with pytest.raises(ModelError, match=r"config.toml: invalid configuration: defualt_model: not a setting"):
        load_model("heuristic")
    cfg.write_text('[fake]\nbase_url = "http://127.0.0.1:1/v1"\n')
    monkeypatch.setitem(PROVIDERS, "fake", "test_registries:FakeModel")
    assert load_model("fake:x").spec.settings.provider("fake").base_url == "http://127.0.0.1:1/v1"


# ---- backends -----------------------------------------------------------------------------------------------
class FakeConfig(BackendConfig):
    """A backend type registered by a test: its table is validated by its own class."""
    backend: Literal["fake"]
    answer: int

    def open(self, incident: Incident) -> "FakeRegistry":
        return FakeRegistry(self.answer)


class FakeRegistry:
    def __init__(self, answer: int):
        self.answer = answer

    def coverage(self, source):
        return Coverage(present=source == "registry")

    def services(self, window):
        return {"fake-svc"}

    def close(self):
        pass


AT = datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc)


def test_a_registered_backend_type_is_accepted_in_a_config(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, "fake", "test_registries:FakeConfig")
    cfg = tmp_path / "live.toml"
    cfg.write_text('[sources.registry]\nbackend = "fake"\nanswer = 42\n')
    tel = open_telemetry(None, cfg, "search", AT)
    assert tel.routes["registry"].answer == 42 and tel.coverage("registry").present
    assert tel.services(tel.incident.window) == {"fake-svc"}
    cfg.write_text('[sources.registry]\nbackend = "fake"\nanswr = 42\n')
    with pytest.raises(TelemetryError, match=r"live.toml: invalid config: sources.registry.answer: Field required; "
                                             r"sources.registry.answr: unknown key"):
        open_telemetry(None, cfg, "search", AT)


@pytest.mark.parametrize("table,problem", [
    ('backend = "prometheus"\nurl = "http://p:9090"\nservce_label = "job"',
     "sources.metrics.servce_label: unknown key"),
    ('url = "http://p:9090"', "sources.metrics.backend: Field required"),
    ('backend = "prometheus"', "sources.metrics.url: Field required"),
    ('backend = "promethus"\nurl = "http://p:9090"',
     "sources.metrics.backend: unknown backend 'promethus'; backends: snapshot, prometheus, loki"),
])
def test_config_mistakes_name_the_file_and_the_key(tmp_path, table, problem):
    cfg = tmp_path / "live.toml"
    cfg.write_text(f"[sources.metrics]\n{table}\n")
    with pytest.raises(TelemetryError) as e:
        load_backends(cfg)
    assert str(e.value).startswith(f"{cfg}: invalid config: {problem}")


def test_every_registry_line_matches_its_class_and_unknown_top_level_keys_are_rejected(tmp_path):
    import pkgutil
    for name, target in BACKENDS.items():
        cls = pkgutil.resolve_name(target)
        assert name in cls.model_fields["backend"].annotation.__args__
    cfg = tmp_path / "live.toml"
    cfg.write_text('[source.logs]\nbackend = "loki"\nurl = "http://loki:3100"\n')
    with pytest.raises(TelemetryError, match="live.toml: invalid config: source: unknown key"):
        load_backends(cfg)
    cfg.write_text('[sources.logs]\nbackend = "loki"\nurl = "http://loki:3100"\n[slack.routes]\nsearch = "#inc"\n')
    assert load_backends(cfg).slack == {"routes": {"search": "#inc"}}
