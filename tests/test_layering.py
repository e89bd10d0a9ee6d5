"""Imports follow ``tinylarge.LAYERS``: a package imports only from lower layers, or from its own
layer without a cycle (DESIGN.md allows same-layer imports; a cycle would make the two packages
one). Every import counts: module-level, lazy ones inside functions, ``TYPE_CHECKING`` blocks,
relative ones and ``importlib.import_module("tinylarge...")`` with a literal (or f-string) name.
A module in a package that no layer lists fails too, so a new package must be placed."""

from __future__ import annotations

import ast
from pathlib import Path

import tinylarge

SRC = Path(tinylarge.__file__).parent


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``tree``; ``module`` is the importing module."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from tinylarge import data` imports the package `data`
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _called(node) == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr) and arg.values:
                arg = arg.values[0]  # f"tinylarge.cli.{name}": the literal head names the package
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value.rstrip(".")))
    return found


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def unit_of(dotted: str, units: set[str]) -> str | None:
    """The layered unit (``tinylarge.<unit>``) a dotted name lies in; ``""`` for the root
    package itself (``__version__``, ``LAYERS``), ``None`` outside tinylarge."""
    parts = dotted.split(".")
    if parts[0] != "tinylarge":
        return None
    if len(parts) > 1 and parts[1] in units:
        return parts[1]
    return ""


def violations(src: Path, layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import under ``src`` (a ``tinylarge`` package folder) that breaks ``layers``."""
    layer_of = {unit: i for i, units in enumerate(layers) for unit in units}
    units = {p.stem for p in src.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    units.discard("__init__")
    problems, same_layer = [], {}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        source = rel.parts[0].removesuffix(".py")
        if rel == Path("__init__.py"):
            source = ""
        elif source not in layer_of:
            problems.append(f"{rel}: package {source!r} is in no layer of tinylarge.LAYERS")
            continue
        module = ".".join(("tinylarge", *rel.with_suffix("").parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in imported_modules(tree, module, path.name == "__init__.py"):
            target = unit_of(name, units)
            if target is None or target == source or target == "":
                continue
            if source == "":
                problems.append(f"{rel}:{line}: the root package imports {name}")
            elif target not in layer_of:
                problems.append(f"{rel}:{line}: imports {name}, in no layer of tinylarge.LAYERS")
            elif layer_of[target] > layer_of[source]:
                problems.append(
                    f"{rel}:{line}: {source} (layer {layer_of[source]}) imports {name} "
                    f"(layer {layer_of[target]})"
                )
            elif layer_of[target] == layer_of[source]:
                same_layer.setdefault((source, target), f"{rel}:{line} imports {name}")
    problems += [
        f"same-layer cycle: {same_layer[(a, b)]}, and {same_layer[(b, a)]}"
        for a, b in sorted(same_layer)
        if a < b and (b, a) in same_layer
    ]
    return problems


def test_every_import_points_down_the_layers():
    assert violations(SRC, tinylarge.LAYERS) == []


def test_the_layers_place_each_package_once():
    placed = [unit for units in tinylarge.LAYERS for unit in units]
    assert len(placed) == len(set(placed))


FAKE_TREE = {
    "__init__.py": "",
    "errors.py": "",
    "cli/__init__.py": "from tinylarge.large import x\nimport tinylarge.errors\n",
    "large/__init__.py": "",
    "large/agent.py": "from ..data import load\nfrom tinylarge import __version__\n",
    "data/__init__.py": "def f():\n    from tinylarge.large.agent import Agent\n",
    "data/sub/__init__.py": "from ...net import link\n",
    "net/__init__.py": "import importlib\nimportlib.import_module(f'tinylarge.cli.{x}')\n",
    "net/link.py": "from tinylarge import data\n",
    "fleet/__init__.py": "",
}


def test_the_check_finds_upward_lazy_relative_dynamic_cyclic_and_unplaced_imports(tmp_path):
    for rel, text in FAKE_TREE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    layers = (("errors",), ("data", "net"), ("large",), ("cli",))
    assert violations(tmp_path, layers) == [
        "data/__init__.py:2: data (layer 1) imports tinylarge.large.agent.Agent (layer 2)",
        "fleet/__init__.py: package 'fleet' is in no layer of tinylarge.LAYERS",
        "net/__init__.py:2: net (layer 1) imports tinylarge.cli (layer 3)",
        "same-layer cycle: data/sub/__init__.py:1 imports tinylarge.net.link, and "
        "net/link.py:1 imports tinylarge.data",
    ]
