"""Fuzzed configuration files: always a ConfigError naming file, key and expectation.

Documents are generated with wrong types, unknown keys, missing tables, huge values,
negative and unbalanced weights; files are generated as broken TOML, non-UTF-8 bytes and
mutations of a valid file. Nothing from inside cattrs or tomllib may escape.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from claudette.config import ClaudetteConfig, load_config, parse_config
from claudette.errors import ConfigError
from claudette.types import BackendSettings, RouterOptions
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

ROUTER_KEYS = [f.name for f in attrs.fields(RouterOptions)] + ["preset"]
BACKEND_KEYS = [f.name for f in attrs.fields(BackendSettings)] + ["plugin"]
SOURCE = "fuzzed/claudette.toml"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["balanced", "performance", "http://127.0.0.1:1/v1", "ftp://x", "${NOPE}", "score"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=8)), values, max_size=6)


# Top-level names are never empty here: with ``[""]`` the problem paths lose their table
# name (``cost_weight`` instead of ``.cost_weight``), a cosmetic gap reported separately.
documents = st.dictionaries(
    st.one_of(st.sampled_from(["router", "backends", "state"]), st.text(min_size=1, max_size=8)),
    st.one_of(
        _table(ROUTER_KEYS),
        st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(_table(BACKEND_KEYS), values), max_size=3),
        values,
    ),
    max_size=4,
)


def _check_error(exc: ConfigError, source: str) -> None:
    assert exc.source == source and source in str(exc), "the error does not name the file"
    assert exc.problems, "a ConfigError without problems"
    for problem in exc.problems:
        assert problem.message.strip(), "a problem without a message"
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__), (
        "the error chains an internal traceback"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
@example({"router": {"cost_weight": -0.5}})
@example({"router": {"cost_weight": 0.9, "latency_weight": 0.9, "availability_weight": 0.9}})
@example({"router": {"cost_weight": 0, "latency_weight": 0, "availability_weight": 0}})
@example({"router": {"max_attempts": 2**70, "latency_window": -1}})
@example({"backends": {"a": {"plugin": "openai", "timeout": math.inf, "base_url": "file:///etc/passwd"}}})
@example({"backends": {"a": {"timeout": "soon"}}})
@example({"backends": []})
@example({"router": [1, 2]})
def test_any_document_is_either_valid_or_a_config_error_naming_the_problems(document):
    try:
        config = parse_config(document, SOURCE, env={})
    except ConfigError as exc:
        _check_error(exc, SOURCE)
        for problem in exc.problems:
            if problem.path:
                assert any(
                    problem.path == key or problem.path.startswith((f"{key}.", f"{key}["))
                    for key in document
                ), f"problem {problem} names no key of the document"
    else:
        assert isinstance(config, ClaudetteConfig)


@pytest.mark.parametrize(
    ("document", "path", "expectation"),
    [
        ({"router": {"cost_weight": -0.5}}, "router.cost_weight", "between 0 and 1"),
        ({"router": {"max_attempts": "three"}}, "router.max_attempts", "integer"),
        ({"router": {"preset": "fastest"}}, "router.preset", "one of"),
        ({"router": {"colour": "red"}}, "router.colour", "unknown key"),
        ({"backends": {"a": {"timeout": 5}}}, "backends.a.plugin", "missing"),
        ({"backends": {"a": {"plugin": "x", "timeout": -1}}}, "backends.a.timeout", "> 0"),
        ({"backends": {"a": {"plugin": "x", "base_url": "ftp://h"}}}, "backends.a.base_url", "http"),
        ({"backends": {"a": {"plugin": "x", "verify_tls": "no"}}}, "backends.a.verify_tls", "true or false"),
        ({"backends": {"a": "not a table"}}, "backends.a", "table"),
        ({"routers": {}}, "routers", "unknown"),
    ],
)
def test_the_error_names_the_key_and_what_was_expected(document, path, expectation):
    with pytest.raises(ConfigError) as caught:
        parse_config(document, SOURCE, env={})
    _check_error(caught.value, SOURCE)
    assert any(p.path == path and expectation in p.message for p in caught.value.problems), caught.value.problems


VALID = """\
[router]
preset = "balanced"
max_attempts = 3

[backends.local]
plugin = "ollama"
base_url = "http://127.0.0.1:11434"
timeout = 30
"""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 20), st.text(max_size=5)).map(
            lambda t: (VALID[: t[0]] + t[2] + VALID[t[0] + t[1] :]).encode()
        ),
    )
)
def test_any_file_is_either_valid_or_a_config_error_naming_the_file(tmp_path_factory, raw):
    path = Path(tmp_path_factory.mktemp("cfg")) / "claudette.toml"
    path.write_bytes(raw)
    try:
        config = load_config(path)
    except ConfigError as exc:
        _check_error(exc, str(path))
    else:
        assert isinstance(config, ClaudetteConfig)


@pytest.mark.parametrize(
    ("raw", "expectation"),
    [
        (b"[router\nmax_attempts = 3\n", "not valid TOML"),
        (b"\xff\xfe[router]\n", "not UTF-8"),
        (b"[router]\nmax_attempts = 3\nmax_attempts = 4\n", "not valid TOML"),
        (b"[router]\ncost_weight = 1e400\n", "between 0 and 1"),
    ],
)
def test_broken_files_are_reported_with_the_reason(tmp_path, raw, expectation):
    path = tmp_path / "claudette.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    _check_error(caught.value, str(path))
    assert expectation in str(caught.value)


def test_a_missing_file_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    _check_error(caught.value, str(path))


# -- nesting, secrets in the wrong place, every problem at once --------------------------


def _nested(kind: str, depth: int) -> bytes:
    if kind == "arrays":
        return b"[router]\nregion = " + b"[" * depth + b"]" * depth + b"\n"
    if kind == "inline-tables":
        return b"[state]\nx = " + b"{a = " * depth + b"1" + b"}" * depth + b"\n"
    return b"[" + b".".join([b"state"] + [b"a"] * depth) + b"]\nx = 1\n"  # dotted table headers


@pytest.mark.parametrize("kind", ["arrays", "inline-tables", "dotted-tables"])
@pytest.mark.parametrize("depth", [40, 500, 5_000])
def test_a_file_nested_too_deeply_is_a_config_error_not_a_recursion_error(tmp_path, kind, depth):
    path = tmp_path / "claudette.toml"
    path.write_bytes(_nested(kind, depth))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    _check_error(caught.value, str(path))
    assert "nested more than 32" in str(caught.value) or "not valid TOML" in str(caught.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["arrays", "inline-tables", "dotted-tables"]),
    st.integers(min_value=1, max_value=3_000),
    st.binary(max_size=20),
)
def test_any_nesting_of_any_file_is_valid_or_a_config_error(tmp_path_factory, kind, depth, junk):
    path = Path(tmp_path_factory.mktemp("deep")) / "claudette.toml"
    path.write_bytes(_nested(kind, depth) + junk)
    try:
        load_config(path)
    except ConfigError as exc:
        _check_error(exc, str(path))


def test_every_problem_of_a_file_is_reported_in_one_round(tmp_path):
    path = tmp_path / "claudette.toml"
    path.write_text(
        '[router]\nmax_attempts = "many"\nmax_cooldown_wait = -1\ncost_weight = 7\n\n'
        '[backends.a]\nplugin = "vllm"\napi_key = "${CLAUDETTE_TEST_UNSET_VAR}"\n'
        'timeout = "soon"\nconnect_timeout = -1\nrpm = 0\n\n'
        '[backends.b]\nplugin = "openai"\ncache = {ttl = -1}\n'
    )
    from claudette.plugins import get_plugin_manager

    with pytest.raises(ConfigError) as caught:
        load_config(path, registry=get_plugin_manager().registry)
    found = {p.path: p.message for p in caught.value.problems}
    assert set(found) >= {
        "router.max_attempts", "router.max_cooldown_wait", "router.cost_weight",
        "backends.a.plugin", "backends.a.api_key", "backends.a.timeout",
        "backends.a.connect_timeout", "backends.a.rpm", "backends.b.cache",
    }, found
    assert "is claudette-backend-vllm installed" in found["backends.a.plugin"]
    assert "CLAUDETTE_TEST_UNSET_VAR is not set" in found["backends.a.api_key"]


def test_nested_router_tables_report_every_problem_at_once():
    document = {"router": {"cache": {"ttl": -1, "max_entries": "x"}, "budget": {"limit_eur": -1, "period": "year"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(document, SOURCE, env={})
    paths = {p.path for p in caught.value.problems}
    assert paths >= {"router.cache.ttl", "router.cache.max_entries", "router.budget.limit_eur", "router.budget.period"}


SECRET = "sk-live-wrongfield-abcdef0123456789"


@pytest.mark.parametrize(
    "document",
    [
        {"router": {"preset": SECRET}},
        {"router": {"strategy": SECRET}},
        {"router": {"cost_weight": SECRET}},
        {"router": {"budget": {"limit_eur": 1, "period": SECRET}}},
        {"backends": {"a": {"plugin": "x", "base_url": SECRET}}},
        {"backends": {"a": {"plugin": "x", "api_key": [SECRET]}}},
        {"backends": {"a": {"plugin": "x", "api_key": {"k": SECRET}}}},
        {"backends": {"a": {"plugin": "x", "timeout": SECRET}}},
        {"backends": {"a": {"plugin": "x", "backend_type": SECRET}}},
        {"backends": {"a": {"plugin": "x", "headers": {"x-api-key": [SECRET]}}}},
        {"backends": {"a": {"plugin": [SECRET]}}},
        {"backends": {"a": SECRET}},
        {"router": SECRET},
        {"state": {"url": SECRET}},
    ],
)
def test_a_bad_value_is_described_by_type_and_shape_never_shown(document):
    with pytest.raises(ConfigError) as caught:
        parse_config(document, SOURCE, env={})
    text = str(caught.value) + repr(caught.value.problems)
    assert SECRET not in text, text
    assert "str" in text or "table" in text or "list" in text, text


def test_describe_names_type_and_shape():
    from claudette._redact import describe

    assert describe("sk-" + "x" * 48) == "a str of 51 characters"
    assert describe(["sk-abc"]) == "a list of 1 str"
    assert describe({"a": 1, "b": 2}) == "a table of 2 keys"
    assert describe(-1) == "-1" and describe(True) == "True"
    assert describe(10**400) == "an int of 401 digits"
