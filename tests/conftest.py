"""The core tests use claudette's own pytest fixtures (``claudette_loopback_server`` ...)."""

pytest_plugins = ["claudette.testing.pytest_plugin"]
