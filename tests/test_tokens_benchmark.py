"""benchmarks/tokens.py (issue 13 item 14): a scripted LLM investigation of the demo through the real OpenAI
provider and a stand-in Chat Completions server on loopback, counting what each request carries."""
from benchmarks.tokens import measure
from test_schemas import ADDED_MAX
from tools import TOOLS


def test_an_llm_style_investigation_of_the_demo_spends_under_half_its_input_on_schemas():
    out = measure()
    assert out["stop_reason"] == "submitted" and out["turns"] == 4 and out["tool_calls"] == 12
    assert out["loop_input_tokens"] == out["input_tokens"]        # the stand-in's usage is what it counted
    assert out["schema_tokens"] < 0.5 * out["input_tokens"]          # 61% before the schemas were halved
    # 15,223 before; under 8,000 with 15 tools, and each tool added since as compact as tests/test_schemas.py asks
    assert out["schema_chars_per_turn"] < 8000 + ADDED_MAX * (len(TOOLS) - 15)
