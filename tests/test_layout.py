"""The package's plan holds: subpackages by task, layered, no import circles, modules of a readable size.

Layers, lowest first (a module may import its own subpackage and lower layers only; subpackages that
share a layer do not import each other):

    0  microcalc    the package's own ``__init__``: DISCLAIMER, __version__, lazy table of the public API
    1  io           reading lesion files, the schema and vocabularies, errors, atomic writes
    2  priors       the prior files and their loader (``priors/``)
    3  synthesis    the evidence synthesis of published series (may use the prior classes)
    4  modelling    design, model equation, likelihood, completion, prediction, fitting, fit file
    5  reporting    report, figures, headline answers, published ranges
    6  checks, robustness, batch   evaluation and cross-validation; sensitivity and scenarios; scoring at scale
    7  web          the calculator page and API
    8  cli          the command line (top-level module cli)
    9  __main__     ``python -m microcalc``

The graph counts every ``import``/``from ... import`` of a microcalc module, at the top of a module or
inside a function (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` are not
run and are left out. ``from package import name`` counts as an import of ``package.name`` when that is a
module, else of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"microcalc": ROOT / "model", "microcalc.priors": ROOT / "priors"}

LAYERS = [
    {"microcalc"},
    {"io"},
    {"priors"},
    {"synthesis"},
    {"modelling"},
    {"reporting"},
    {"checks", "robustness", "batch"},
    {"web"},
    {"cli"},
    {"__main__"},
]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}

MAX_LINES = 400
# Modules allowed over MAX_LINES until they are split (issue 14), with the reason they are not yet.
LONG_MODULES: dict[str, str] = {}
# Names a module may take from the package's own __init__ (everything else comes from its module).
ROOT_NAMES = {"DISCLAIMER", "__version__", "lazy_attribute"}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            if "__pycache__" in rel.parts:
                continue
            parts = [package, *rel.parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def _imports(name: str, path: Path) -> dict[str, int]:
    """microcalc modules imported by one module -> first line (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target.split(".")[0] == "microcalc" and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            if not module.startswith("microcalc"):
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in MODULES:
                    add(sub, node.lineno)
                else:
                    add(module, node.lineno)
                    if module == "microcalc":
                        assert alias.name in ROOT_NAMES, (
                            f"{path.relative_to(ROOT)}:{node.lineno}: 'from microcalc import {alias.name}': "
                            f"import it from its module (the package's __init__ holds only {sorted(ROOT_NAMES)})"
                        )
    return {target: line for target, line in found.items() if target in MODULES}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _part(module: str) -> str:
    """The layer part of a module: its subpackage, or the top-level module's own name."""
    parts = module.split(".")
    return "microcalc" if len(parts) == 1 else parts[1]


def test_every_module_is_in_a_layer():
    unplaced = sorted(m for m in MODULES if _part(m) not in LAYER)
    assert not unplaced, f"modules outside the layers (put them in a subpackage, or add one to LAYERS): {unplaced}"


def test_no_import_cycles():
    """Depth-first search; reports one cycle with the lines that make it."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in GRAPH[node]:
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (cycle := visit(module)):
            steps = [f"{a} (line {GRAPH[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:])]
            pytest.fail("import cycle:\n  " + "\n  ".join(steps))


def test_imports_go_down_the_layers():
    wrong = []
    for module, targets in sorted(GRAPH.items()):
        here = _part(module)
        for target, line in targets.items():
            there = _part(target)
            if there == here or module == "microcalc" and there != "microcalc":
                continue  # own subpackage; the package __init__'s lazy table is strings, not imports
            if LAYER.get(there, -1) >= LAYER.get(here, -1):
                wrong.append(
                    f"{MODULES[module].relative_to(ROOT)}:{line}: {module} ({here}, layer {LAYER.get(here)}) "
                    f"imports {target} ({there}, layer {LAYER.get(there)})"
                )
    assert not wrong, "imports from the same or a higher layer:\n" + "\n".join(wrong)


def test_top_level_holds_only_the_package_entry_points():
    top = sorted(p.name for p in (ROOT / "model").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py"], top


@pytest.mark.parametrize("package", sorted({m for m in MODULES if MODULES[m].name == "__init__.py"} - {"microcalc"}))
def test_subpackage_init_says_what_lives_there_and_stays_light(package):
    path = MODULES[package]
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree)
    assert doc and doc.strip(), f"{path.relative_to(ROOT)} has no docstring"
    if package in {"microcalc.synthesis", "microcalc.priors"}:
        return  # older packages: eager exports of light modules (no PyMC)
    light = ("__future__", "microcalc")  # the package root: DISCLAIMER, __version__, lazy_attribute
    heavy = [
        n
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom)) and not (isinstance(n, ast.ImportFrom) and n.module in light)
    ]
    assert not heavy, f"{path.relative_to(ROOT)}: imports at the top; export lazily (see _LAZY)"


def test_lazy_tables_name_modules_that_define_the_names():
    import importlib

    for package in ["microcalc"] + sorted(m for m in MODULES if MODULES[m].name == "__init__.py"):
        module = importlib.import_module(package)
        for name, where in getattr(module, "_LAZY", {}).items():
            assert hasattr(importlib.import_module(where), name), f"{package}._LAZY[{name!r}] -> {where}"
            assert name in module.__all__


def test_modules_stay_readable_in_size():
    too_long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    unexpected = {m: n for m, n in too_long.items() if m not in LONG_MODULES}
    assert not unexpected, f"modules over {MAX_LINES} lines (split them, or list them with a reason): {unexpected}"
    gone = sorted(set(LONG_MODULES) - set(MODULES))
    assert not gone, f"LONG_MODULES names modules that do not exist (moved or split?): {gone}"


def test_public_api_of_the_package():
    import microcalc

    for name in [
        "read_lesions",
        "bundled_data_path",
        "fit",
        "Fit",
        "load",
        "load_priors",
        "predict_dask",
        "LesionInputError",
        "FitFileError",
        "DISCLAIMER",
    ]:
        assert hasattr(microcalc, name), name
    assert microcalc.bundled_data_path().is_file()
    assert (ROOT / "model" / "web" / "page.html").is_file()
