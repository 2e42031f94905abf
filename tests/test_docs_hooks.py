"""docs/hooks.md documents every hook of hookspecs.py exactly; docs/plugins.md's examples run.

The hook list is derived from :mod:`claudette.hookspecs` at test time, so a hook added
there without documentation fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from claudette import BackendSettings, BaseBackend, BreakerPolicy, ClaudettePlugins, hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOOKS_MD = DOCS / "hooks.md"
PLUGINS_MD = DOCS / "plugins.md"

_FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^## `(claudette_\w+)`\s*$", re.MULTILINE)


def hookspecs_by_name() -> dict[str, Callable[..., Any]]:
    """Every function of hookspecs.py marked as a hook specification."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, marker)
    }


def spec_signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str]], str]:
    """(parameter names with annotation source, return annotation source) of a spec."""
    tree = ast.parse(inspect.getsource(fn))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    return _signature_of(node)


def _signature_of(node: ast.FunctionDef) -> tuple[list[tuple[str, str]], str]:
    params = [(a.arg, ast.unparse(a.annotation) if a.annotation else "") for a in node.args.args]
    return params, ast.unparse(node.returns) if node.returns else ""


def documented_hooks(text: str) -> dict[str, str]:
    """Hook name → its section of hooks.md (from its heading to the next one)."""
    headings = list(_HEADING.finditer(text))
    return {
        m.group(1): text[m.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)]
        for i, m in enumerate(headings)
    }


def documented_signature(section: str) -> tuple[list[tuple[str, str]], str]:
    """The signature in a section's first python block (``def ...(...) -> ...``)."""
    blocks = _FENCE.findall(section)
    assert blocks, "the section has no python block with the signature"
    source = blocks[0].strip()
    node = ast.parse(source if source.endswith(":") else source + ": ...").body[0]
    assert isinstance(node, ast.FunctionDef)
    return _signature_of(node)


SPECS = hookspecs_by_name()
SECTIONS = documented_hooks(HOOKS_MD.read_text(encoding="utf-8"))


def test_hookspecs_module_defines_hooks() -> None:
    assert "claudette_register_backends" in SPECS
    assert len(SPECS) >= 5


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_is_documented(name: str) -> None:
    assert name in SECTIONS, f"{name} is in hookspecs.py but has no '## `{name}`' section in docs/hooks.md"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_documented_signature_matches_the_spec(name: str) -> None:
    if name not in SECTIONS:
        pytest.fail(f"{name} is undocumented")

    assert documented_signature(SECTIONS[name]) == spec_signature(SPECS[name])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_firstresult_is_documented_truthfully(name: str) -> None:
    if name not in SECTIONS:
        pytest.fail(f"{name} is undocumented")
    firstresult = getattr(SPECS[name], f"{hookspecs.PROJECT_NAME}_spec")["firstresult"]

    line = re.search(r"\*\*firstresult:\*\* (yes|no)", SECTIONS[name])

    assert line is not None, "the section must say '**firstresult:** yes' or '... no'"
    assert (line.group(1) == "yes") is firstresult


def test_no_documented_hook_is_missing_from_hookspecs() -> None:
    assert sorted(set(SECTIONS) - set(SPECS)) == []


def test_plugins_md_summary_names_every_hook() -> None:
    text = PLUGINS_MD.read_text(encoding="utf-8")

    assert [n for n in sorted(SPECS) if f"`{n}(" not in text] == []


# -- the examples in hooks.md are valid implementations ---------------------------------------


class _Backend(BaseBackend):
    async def send(self, request):  # type: ignore[no-untyped-def]
        raise NotImplementedError


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_hook_example_registers_without_validation_errors(name: str) -> None:
    blocks = _FENCE.findall(SECTIONS[name])
    assert len(blocks) >= 2, "each hook needs a signature block and an example"
    namespace: dict[str, Any] = {
        "hookimpl": hookspecs.hookimpl,
        "BackendSettings": BackendSettings,
        "BreakerPolicy": BreakerPolicy,
        "AcmeBackend": _Backend,
        "alert": print,
    }
    exec(compile(blocks[1], f"hooks.md:{name}", "exec"), namespace)
    module = types.ModuleType(f"example_{name}")
    module.__dict__.update(namespace)

    manager = ClaudettePlugins(autoload=False, plugins=[module])

    assert manager.failures == []
    assert manager.hook_order(name)[0] == module.__name__


def test_observer_taking_some_arguments_is_called_with_them(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"hookimpl": hookspecs.hookimpl}
    exec(_FENCE.findall(SECTIONS["claudette_after_attempt"])[1], namespace)
    module = types.ModuleType("observer")
    module.__dict__.update(namespace)
    manager = ClaudettePlugins(autoload=False, plugins=[module])

    manager.after_attempt(_Backend("b", BackendSettings(model="m")), None, None, None, 12.0)  # type: ignore[arg-type]

    assert capsys.readouterr().out == "b: ok in 12 ms\n"


# -- plugins.md -----------------------------------------------------------------------------------


def test_every_python_example_in_plugins_md_runs() -> None:
    """The blocks run in order, in one namespace, like a reader following the guide."""
    blocks = _FENCE.findall(PLUGINS_MD.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__name__": "plugins_md"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/plugins.md block {number}", "exec"), namespace)
