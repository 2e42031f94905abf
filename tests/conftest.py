"""The core tests use claudette's own pytest fixtures (``claudette_loopback_server`` ...),
and pytest's ``pytester`` to check how those reach other suites."""

pytest_plugins = ["claudette.testing.pytest_plugin", "pytester"]
