"""examples/: the scoring and breaker-policy plugins, installed for real, change the router.

One fresh venv holds claudette-core from this checkout and both example packages (not
editable); each behaviour is checked in a subprocess, with and without the plugin blocked.
Runs in ``nox -s template`` (it builds packages).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _venv import ROOT, TEST_TOOLS, Venv, clean_env, cli_has_plugins_command
from claudette.types import BreakerPolicy

EXAMPLES = ROOT / "examples"
SCORE = EXAMPLES / "claudette-score-latency-bound"
BREAKER = EXAMPLES / "claudette-breaker-strict"

pytestmark = pytest.mark.slow

#: Two backends: one free but slow (4 s average), one dear but fast (0.1 s); prints the choice.
CHOICE_SNIPPET = """
import asyncio
from claudette import BackendRouter, BackendSettings, BaseBackend, ClaudetteRequest, RouterOptions

class Silent(BaseBackend):
    async def send(self, request):
        raise AssertionError("never sent")

async def main():
    router = BackendRouter(RouterOptions(health_checks=False))
    router.register_backend(Silent("free-slow", BackendSettings(model="m", cost_per_token=0.0)))
    router.register_backend(Silent("dear-fast", BackendSettings(model="m", cost_per_token=0.001)))
    router.get_backend("free-slow").stats.record_latency(4000)
    router.get_backend("dear-fast").stats.record_latency(100)
    chosen = await router.select_backend(ClaudetteRequest(prompt="x" * 400, options={"max_tokens": 100}))
    print(chosen.name)

asyncio.run(main())
"""

#: A cloud and a self-hosted backend; prints each breaker's failure threshold and reset timeout.
POLICY_SNIPPET = """
import json
from claudette import BackendRouter, BackendSettings, BaseBackend, RouterOptions

class Silent(BaseBackend):
    async def send(self, request):
        raise AssertionError("never sent")

router = BackendRouter(RouterOptions(health_checks=False))
router.register_backend(Silent("cloud", BackendSettings(model="m", backend_type="cloud")))
router.register_backend(Silent("local", BackendSettings(model="m", backend_type="self_hosted")))
print(json.dumps({n: [router.breaker(n).policy.failure_threshold, router.breaker(n).policy.reset_timeout]
                  for n in ("cloud", "local")}))
"""

ORDER_SNIPPET = """
import json
from claudette import ClaudettePlugins
pm = ClaudettePlugins()
print(json.dumps({h: pm.hook_order(h) for h in ("claudette_score_backend", "claudette_breaker_policy")}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """One fresh venv: core from this checkout, both examples, the test tools."""
    env = Venv(tmp_path_factory.mktemp("examples-venv") / "env")
    env.install(*TEST_TOOLS)
    env.install(ROOT, SCORE, BREAKER, build_isolation=False)
    yield env


def run(venv: Venv, snippet: str, **env: str) -> str:
    result = venv.run("python", "-c", snippet, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_score_plugin_changes_the_routers_choice(venv: Venv) -> None:
    assert run(venv, CHOICE_SNIPPET) == "dear-fast"


#: The default policy as the snippet prints it: (failure_threshold, reset_timeout).
DEFAULT_POLICY = [BreakerPolicy().failure_threshold, BreakerPolicy().reset_timeout]


def test_blocking_the_score_plugin_restores_the_built_in_scoring(venv: Venv) -> None:
    assert run(venv, CHOICE_SNIPPET, CLAUDETTE_BLOCK_PLUGINS="latency-bound") == "free-slow"


def test_score_plugin_reads_its_bound_from_the_environment(venv: Venv) -> None:
    assert run(venv, CHOICE_SNIPPET, CLAUDETTE_LATENCY_BOUND_MS="5000") == "free-slow"


def test_breaker_plugin_makes_cloud_breakers_stricter(venv: Venv) -> None:
    policies = json.loads(run(venv, POLICY_SNIPPET))

    assert policies == {"cloud": [2, 30.0], "local": DEFAULT_POLICY}


def test_blocking_the_breaker_plugin_restores_the_default_policy(venv: Venv) -> None:
    policies = json.loads(run(venv, POLICY_SNIPPET, CLAUDETTE_BLOCK_PLUGINS="breaker-strict"))

    assert policies == {"cloud": DEFAULT_POLICY, "local": DEFAULT_POLICY}


def test_disabling_autoload_ignores_both_plugins(venv: Venv) -> None:
    env = {"CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD": "1"}

    assert run(venv, CHOICE_SNIPPET, **env) == "free-slow"
    assert json.loads(run(venv, POLICY_SNIPPET, **env))["cloud"] == DEFAULT_POLICY


def test_plugin_infos_show_which_plugin_provides_which_hook(venv: Venv) -> None:
    infos = venv.plugin_infos()

    assert infos["latency-bound"][:2] == ("claudette-score-latency-bound", ["claudette_score_backend"])
    assert infos["breaker-strict"][:2] == ("claudette-breaker-strict", ["claudette_breaker_policy"])


def test_hook_order_puts_installed_plugins_before_the_built_in_defaults(venv: Venv) -> None:
    order = json.loads(run(venv, ORDER_SNIPPET))

    assert order == {
        "claudette_score_backend": ["latency-bound", "claudette-internal-scoring"],
        "claudette_breaker_policy": ["breaker-strict", "claudette-internal-breaker-policy"],
    }


@pytest.mark.parametrize("example", [SCORE, BREAKER], ids=lambda p: p.name)
def test_example_package_tests_pass_against_the_installed_package(venv: Venv, example: Path) -> None:
    passed, output = venv.pytest(example)

    assert passed >= 4, output


@pytest.mark.skipif(not cli_has_plugins_command(), reason="this checkout's CLI has no plugins command")
def test_claudette_plugins_command_lists_both(venv: Venv) -> None:
    result = venv.run("claudette", "plugins")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "latency-bound" in result.stdout and "breaker-strict" in result.stdout
