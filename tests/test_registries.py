"""The registries: a model provider and a telemetry backend are each one file plus one registry line."""
import pytest

from agent.models import PROVIDERS, ModelError, ModelSpec, Turn, base_url_of, default_model_spec, load_model


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
