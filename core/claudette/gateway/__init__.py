"""``claudette serve``: an OpenAI-compatible HTTP gateway in front of the router.

Needs the ``server`` extra (``pip install 'claudette-core[server]'``) to serve; the
translation and the ASGI application themselves use only the core's dependencies.

- :class:`~claudette.gateway.app.GatewayApp`: the ASGI application;
- :class:`~claudette.gateway.options.ServerOptions`: the ``[server]`` table;
- :mod:`claudette.gateway.translate`: OpenAI Chat Completions ↔ claudette's request and
  response;
- :mod:`claudette.gateway.serve`: running it on uvicorn, with workers and signals.
"""

from claudette.gateway.options import ServerOptions

__all__ = ["ServerOptions"]
