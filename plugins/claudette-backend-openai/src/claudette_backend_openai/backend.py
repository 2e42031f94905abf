"""The OpenAI backend: OpenAI's own Chat Completions API."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from claudette.errors import ConfigProblem
from claudette.types import BackendSettings

from claudette_backend_openai.protocol import OpenAICompatibleBackend

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "OpenAIBackend",
    "default_base_url",
    "default_settings",
]

#: OpenAI's API root.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: The host of OpenAI's own API, where a key is required.
OPENAI_HOST = "api.openai.com"
#: The model used when the configuration names none.
DEFAULT_MODEL = "gpt-4o-mini"
#: Environment variable that overrides the base URL when ``base_url`` is unset.
BASE_URL_ENV = "OPENAI_BASE_URL"
#: Environment variable holding the API key.
API_KEY_ENV = "OPENAI_API_KEY"
#: The price table's provider id for OpenAI's models (see :mod:`claudette.pricing`).
PRICE_TABLE_PROVIDER = "openai"


def default_base_url() -> str:
    """``$OPENAI_BASE_URL`` when it holds an http(s) URL, else OpenAI's API root."""
    value = os.environ.get(BASE_URL_ENV, "").strip()
    if value:
        if value.startswith(("http://", "https://")):
            return value
        logger.warning("ignoring %s: not an http(s) URL", BASE_URL_ENV)
    return DEFAULT_BASE_URL


def default_settings() -> BackendSettings:
    """The OpenAI plugin's defaults (the base URL is read from the environment now)."""
    return BackendSettings(
        model=DEFAULT_MODEL,
        base_url=default_base_url(),
        api_key_env=API_KEY_ENV,
        backend_type="cloud",
    )


class OpenAIBackend(OpenAICompatibleBackend):
    """OpenAI Chat Completions: Bearer auth, ``max_completion_tokens``, priced usage.

    Prices: the configured ones, else the price table's list prices of the model
    (``claudette-core[prices]``), else unknown; the plugin types no prices of its own.

    Unset settings are filled from :func:`default_settings` (so a backend built directly,
    without the plugin registry, works too). Point ``base_url`` (or ``$OPENAI_BASE_URL``)
    at a compatible server and set ``extra.max_tokens_field = "max_tokens"`` if that
    server rejects ``max_completion_tokens``.
    """

    max_tokens_field: ClassVar[str] = "max_completion_tokens"

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            name, (settings or BackendSettings()).with_defaults(default_settings()), client=client
        )

    def price_table_provider(self) -> str | None:
        """OpenAI's models are looked up in the price table as ``openai``'s."""
        return PRICE_TABLE_PROVIDER

    @property
    def is_openai(self) -> bool:
        """True when the base URL is OpenAI's own API (not a compatible server)."""
        return urlsplit(self.settings.base_url or "").hostname == OPENAI_HOST

    def config_problems(self) -> list[ConfigProblem]:
        """Protocol checks, plus: OpenAI's own API needs a key (compatible servers may not)."""
        problems = super().config_problems()
        if self.is_openai and not self.settings.api_key:
            problems.append(
                ConfigProblem(
                    f"backends.{self.name}.api_key",
                    f"an API key is required (set {self.settings.api_key_env or API_KEY_ENV} or api_key)",
                )
            )
        return problems
