"""`import claudette` stays light: no plugin, no config machinery, no network."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

PROBE = """
import json, sys
import claudette
mods = sorted(sys.modules)
print(json.dumps({
    "plugins": [m for m in mods if m.startswith("claudette_backend")],
    "heavy": [
        m
        for m in mods
        if m.split(".")[0]
        in ("cattrs", "tomllib", "tomli", "redis", "httpx", "uvicorn", "uvloop", "genai_prices", "pydantic", "sqlite3", "matplotlib")
    ],
    "claudette": [m for m in mods if m.startswith("claudette")],
}))
"""


def _probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_loads_no_plugin_and_no_config_or_http_machinery():
    found = _probe()
    assert found["plugins"] == []
    assert found["heavy"] == []


def test_lazy_names_resolve_on_first_use():
    import claudette

    assert claudette.load_config.__module__ == "claudette.config"
    assert claudette.SyncRouter.__module__ == "claudette.sync"


def test_every_public_name_has_a_docstring():
    import claudette

    missing = [n for n in claudette.__all__ if n != "__version__" and not getattr(claudette, n).__doc__]
    assert missing == []


# -- no import cycle -----------------------------------------------------------------------
#
# A module's import-time dependencies are the imports Python executes while loading it:
# those at module level and in class bodies, including inside ``if``/``try``/``with``
# blocks, but not those under ``if TYPE_CHECKING:`` or inside functions (they run later,
# when every module is loaded).


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], deferred: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports of ``body`` run at import time; with ``deferred``, those in functions too."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _imports(node.body, deferred)
            yield from _imports(node.orelse, deferred)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _imports(block, deferred)
        elif isinstance(node, ast.ClassDef) or (
            deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ):
            yield from _imports(node.body, deferred)
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            yield from _imports(node.body, deferred)
            yield from _imports(getattr(node, "orelse", []), deferred)


def _modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path, *, deferred: bool = False) -> dict[str, set[str]]:
    """Each module of the package at ``root`` → the package's modules it imports at import time
    (with ``deferred``: also those its functions import when they run).

    Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``; a package that contains the
    importing module is already loaded (``import a.x`` inside ``a`` is no dependency on
    ``a``), but ``from a import name`` of a name that is not a module needs ``a`` loaded.
    """
    modules = _modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        containing = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree.body, deferred):
            if isinstance(node, ast.Import):
                targets = [(alias.name, False) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [(base, False)]
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    # ``from a import name``: the submodule a.name, else a name that a defines.
                    targets.append((sub, False) if sub in modules else (base, True))
            for target, needs_contents in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    step = ".".join(parts[:i])
                    if step not in modules or step == name:
                        continue
                    if step in containing and not (needs_contents and step == target):
                        continue
                    graph[name].add(step)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None when it has none."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / next(iter(files)).split("/")[0]


def test_the_cycle_finder_names_a_cycle_through_a_subpackage(tmp_path: Path) -> None:
    root = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": "from pkg.sub.codes import EXIT_OK\n",
            "pkg/sub/__init__.py": "from .codes import EXIT_OK\n",
            "pkg/sub/codes.py": "import pkg.cli\nEXIT_OK = 0\n",
        },
    )
    assert find_cycle(import_graph(root)) == ["pkg.cli", "pkg.sub", "pkg.sub.codes", "pkg.cli"]


def test_the_cycle_finder_counts_only_imports_run_at_import_time(tmp_path: Path) -> None:
    root = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import A\n",
            "pkg/a.py": (
                "from typing import TYPE_CHECKING\n"
                "import pkg.b\n"
                "A = 1\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.b import B\n"
            ),
            "pkg/b.py": "def later():\n    from pkg.a import A\n    return A\n",
        },
    )
    graph = import_graph(root)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert find_cycle(graph) is None


def test_the_cycle_finder_sees_a_name_taken_from_the_package_being_loaded(tmp_path: Path) -> None:
    root = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import A\nVERSION = 1\n",
            "pkg/a.py": "from pkg import VERSION\nA = VERSION\n",
        },
    )
    assert find_cycle(import_graph(root)) == ["pkg", "pkg.a", "pkg"]


def test_the_cycle_finder_follows_deferred_imports_only_when_asked(tmp_path: Path) -> None:
    root = _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": "def main():\n    from pkg import ask\n    return ask.run()\n",
            "pkg/ask.py": "from pkg.cli import main\n\ndef run():\n    return 0\n",
        },
    )
    assert find_cycle(import_graph(root)) is None
    assert find_cycle(import_graph(root, deferred=True)) == ["pkg.ask", "pkg.cli", "pkg.ask"]


def _claudette_root() -> Path:
    import claudette

    return Path(claudette.__file__).parent


def test_the_claudette_package_has_no_import_cycle() -> None:
    graph = import_graph(_claudette_root())
    assert "claudette.router" in graph["claudette"]  # the graph sees the package's imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_command_modules_do_not_import_each_other_in_a_circle() -> None:
    # The command imports its subcommands when it runs them; they must not need it back.
    graph = import_graph(_claudette_root(), deferred=True)
    cli = {m for m in graph if m.rpartition(".")[2] in ("cli", "__main__") or "._cli_" in m}
    assert "claudette.cli" in cli and "claudette._cli_ask" in graph["claudette.cli"]
    cycle = find_cycle({m: graph[m] & cli for m in cli})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
