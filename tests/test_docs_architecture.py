"""The parts table and the import graph of docs/architecture.rst against the
package's code."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rsft_sklearn"
PAGE = ROOT / "docs" / "architecture.rst"


def _code_imports():
    """Each private module of the package and the private modules it
    imports, at any depth of its code (imports inside functions too)."""
    graph = {}
    for path in sorted(PACKAGE.glob("_*.py")):
        name = path.stem
        if name == "__init__":
            continue
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imported.add(node.module.split(".")[0])
                else:
                    imported.update(alias.name for alias in node.names)
        graph[name] = {m for m in imported if m.startswith("_")} - {name}
    return graph


# ``_version.py`` holds only ``__version__``, which ``__init__`` re-exports:
# no part of the design to describe, so the parts table leaves it out (the
# import graph still lists it, as what ``_persistence`` imports).
NOT_PARTS = {"_version"}


def _documented_parts():
    """The modules named in the first column of the page's "The parts"
    table (a row may name several, separated by commas)."""
    text = PAGE.read_text()
    table = text[text.index("The parts") : text.index("Which imports which")]
    rows = re.findall(r"^   \* - (.*)$", table, flags=re.MULTILINE)
    assert rows, "no parts table found in docs/architecture.rst"
    return {name for row in rows for name in re.findall(r"``(_\w+)\.py``", row)}


def test_parts_table_lists_every_module():
    modules = {path.stem for path in PACKAGE.glob("_*.py")} - {"__init__"}
    documented = _documented_parts()
    missing = sorted(modules - NOT_PARTS - documented)
    assert not missing, f"docs/architecture.rst, The parts: no row for {missing}"
    unknown = sorted(documented - modules)
    assert not unknown, f"docs/architecture.rst, The parts: no module {unknown}"


def _documented_graph():
    text = PAGE.read_text()
    section = text[text.index("Which imports which") :]
    block = section[section.index(".. code-block:: text") :]
    lines = block.splitlines()[1:]
    body = []
    for line in lines:
        if line and not line.startswith(" "):
            break
        body.append(line)
    graph = {}
    sources = []
    for line in body:
        if "──>" in line:
            left, right = line.split("──>")
            sources = re.findall(r"_\w+", left)
        else:
            right = line
        for source in sources:
            graph.setdefault(source, set()).update(re.findall(r"_\w+", right))
    return graph, section


def test_documented_import_graph_is_the_codes():
    code = _code_imports()
    documented, _ = _documented_graph()
    assert documented, "no graph found in docs/architecture.rst"
    for name, imports in code.items():
        assert documented.get(name, set()) == imports, (
            f"{name}: the code imports {sorted(imports)}, the page lists "
            f"{sorted(documented.get(name, set()))}"
        )
    assert set(documented) <= set(code)


def test_documented_end_modules_import_none_of_the_others():
    code = _code_imports()
    _, section = _documented_graph()
    sentence = section[: section.index(".. code-block:: text")]
    match = re.search(r"at its end \(([^)]*)\)", sentence.replace("\n", " "))
    assert match is not None
    ends = re.findall(r"``(_\w+)``", match.group(1))
    assert ends
    assert sorted(ends) == sorted(name for name, imports in code.items() if not imports)


def test_import_graph_has_no_cycle():
    code = _code_imports()
    done, active = set(), set()

    def visit(name, path):
        if name in active:
            pytest.fail(f"import cycle: {' -> '.join([*path, name])}")
        if name in done:
            return
        active.add(name)
        for other in sorted(code.get(name, ())):
            visit(other, [*path, name])
        active.discard(name)
        done.add(name)

    for name in sorted(code):
        visit(name, [])
