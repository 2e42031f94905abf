"""`import claudette` stays light: no plugin, no config machinery, no network."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import claudette
mods = sorted(sys.modules)
print(json.dumps({
    "plugins": [m for m in mods if m.startswith("claudette_backend")],
    "heavy": [m for m in mods if m.split(".")[0] in ("cattrs", "tomllib", "tomli", "redis", "httpx")],
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
