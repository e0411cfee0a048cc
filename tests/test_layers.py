"""Dependencies point one way (docs/DECISIONS.md, "Layers"): checked by walking every module's imports,
including the ones inside functions, so a lazy import cannot hide a wrong-way dependency."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (modules under this prefix, may not import modules under any of these prefixes)
RULES = [
    ("tools.domain", ("agent", "evals", "prompts", "tools.")),   # the bottom layer: only itself (checked below)
    ("tools", ("agent", "evals")),
    ("tools.backends", ("agent", "evals", "tools.toolset", "tools.overview", "tools.logs", "tools.metrics",
                        "tools.traces", "tools.events")),
    ("agent.models", ("tools.backends",)),
]


def imports_of(path: Path) -> set[str]:
    mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    pkg = mod.rsplit(".", 1)[0] if path.name != "__init__.py" else mod.removesuffix(".__init__")
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                out.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.add(node.module)
    return out


def modules() -> dict[str, set[str]]:
    found = {}
    for top in ("agent", "tools", "evals", "prompts"):
        for p in (ROOT / top).rglob("*.py"):
            found[".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = imports_of(p)
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


@pytest.mark.parametrize("layer,forbidden", RULES, ids=[r[0] for r in RULES])
def test_dependencies_point_one_way(layer, forbidden):
    wrong = []
    for mod, imported in modules().items():
        if not _under(mod, layer):
            continue
        for name in imported:
            if layer == "tools.domain" and _under(name, "tools.domain"):
                continue
            if any(_under(name, f) for f in forbidden):
                wrong.append(f"{mod} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_rule_checker_sees_a_wrong_way_import(tmp_path, monkeypatch):
    """The walk itself works: an import inside a function is found, and a relative import is resolved."""
    f = ROOT / "tools" / "domain" / "evidence.py"
    names = imports_of(f)
    assert "pydantic" in names
    src = "def f():\n    from agent.loop import Investigation\nfrom ..backends import base\n"
    p = ROOT / "tools" / "domain" / "_probe_.py"
    try:
        p.write_text(src)
        assert imports_of(p) == {"agent.loop", "tools.backends"}
    finally:
        p.unlink()


def test_files_and_functions_stay_small():
    """Easy to see and change: no module over 400 lines, no function over 60 (docs/DECISIONS.md, "Layers")."""
    big = []
    for top in ("agent", "tools", "evals", "prompts", "benchmarks"):
        for p in (ROOT / top).rglob("*.py"):
            src = p.read_text()
            if src.count("\n") > 400:
                big.append(f"{p.relative_to(ROOT)}: {src.count(chr(10))} lines")
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                    big.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1}")
    assert not big, "\n".join(big)
