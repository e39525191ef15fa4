"""The layer rule of docs/architecture.md, read from the code's own imports (function-level ones included).

charrnn/ (top level) -> nothing below it; lm/ and sentiment/ -> the top level; serve/ -> lm, sentiment, top level;
web/ -> everything but cli; cli/ -> everything (web only to start the app). No cycles; a function-level import
carries a comment saying why it is not at the top. The checker runs on the real package and on planted examples.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACADE = {"charrnn", "charrnn.__main__"}  # the public names and the entry point: they import the layers below
ALLOWED = {
    "top": {"top"},
    "lm": {"top", "lm"},
    "sentiment": {"top", "sentiment"},
    "serve": {"top", "lm", "sentiment", "serve"},
    "web": {"top", "lm", "sentiment", "serve", "web"},
    "cli": {"top", "lm", "sentiment", "serve", "web", "cli"},
}


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under `package` (a folder named like the package)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "top"


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for each import of the package's own modules."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = name.split(".")[0]
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        for target in dict.fromkeys(targets):
            if target.split(".")[0] == top:
                while target not in known and "." in target:
                    target = target.rpartition(".")[0]
                found.append((target, node.lineno, id(node) in nested))
    return found


def violations(package: Path) -> list[str]:
    """Every broken rule under `package`: imports pointing up, cycles, and function-level imports with no reason."""
    known = modules(package)
    graph: dict[str, set[str]] = {}
    problems = []
    for name, path in known.items():
        lines = path.read_text(encoding="utf8").splitlines()
        graph[name] = set()
        for target, line, in_function in imports(name, path, known):
            if in_function and "#" not in lines[line - 1] and not lines[line - 2].strip().startswith("#"):
                problems.append(f"{name}:{line} imports {target} inside a function without a comment saying why")
            if name in FACADE or target in FACADE:
                if target in FACADE and name not in FACADE:
                    problems.append(f"{name}:{line} imports the facade {target}; import the module itself")
                continue
            graph[name].add(target)
            if layer(target) not in ALLOWED[layer(name)]:
                problems.append(f"{name}:{line} ({layer(name)}) imports {target} ({layer(target)}), a layer above")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules that import each other (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group) + [sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_keeps_the_layer_rule():
    assert violations(ROOT / "charrnn") == []


def test_every_layer_folder_exists_with_modules():
    known = modules(ROOT / "charrnn")
    for folder in ("lm", "sentiment", "serve", "web", "cli"):
        assert sum(layer(m) == folder for m in known) >= 2, folder


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "charrnn"
    for rel, text in {"__init__.py": "", "files.py": "", "lm/__init__.py": "", "lm/model.py": "",
                      "web/__init__.py": "", "web/ui.py": "", "serve/__init__.py": "", **files}.items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(text)
    return package


def test_a_clean_planted_package_passes(tmp_path):
    package = _plant(tmp_path, {"lm/model.py": "from .. import files\n", "web/ui.py": "from ..lm import model\n"})
    assert violations(package) == []


@pytest.mark.parametrize("files, expected", [
    ({"lm/model.py": "from ..web import ui\n"}, "charrnn.lm.model:1 (lm) imports charrnn.web.ui (web), a layer above"),
    ({"files.py": "def f():\n    # heavy\n    import charrnn.serve\n"},
     "charrnn.files:3 (top) imports charrnn.serve (serve), a layer above"),
    ({"lm/model.py": "def f():\n    from . import data\n", "lm/data.py": ""},
     "charrnn.lm.model:2 imports charrnn.lm.data inside a function without a comment saying why"),
    ({"lm/model.py": "from . import data\n", "lm/data.py": "from .model import x\n"},
     "import cycle: charrnn.lm.data -> charrnn.lm.model -> charrnn.lm.data"),
    ({"lm/model.py": "import charrnn.lm.data\n", "lm/data.py": "from charrnn.lm import model\n"},
     "import cycle: charrnn.lm.data -> charrnn.lm.model -> charrnn.lm.data"),
    ({"lm/model.py": "from charrnn import load_corpus\n"},
     "charrnn.lm.model:1 imports the facade charrnn; import the module itself"),
])
def test_a_planted_violation_is_found(tmp_path, files, expected):
    """Each rule fails on an example that breaks it (so the real package's empty list means something)."""
    package = _plant(tmp_path, files)
    assert expected in violations(package)
