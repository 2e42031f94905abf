"""claudette's shared backend conformance suite, run against the Claude backend."""

from __future__ import annotations

from collections.abc import Sequence

from claudette.testing import Reply
from claudette.testing.conformance import BackendConformance

import claudette_backend_claude.plugin as plugin
from claudette_backend_claude.testing.render import dumps, error_body, sse_event

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


class TestClaudeConformance(BackendConformance):
    """The Messages API wire format for the suite's four kinds of reply."""

    plugin = plugin
    backend_name = "claude"

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> Reply:
        body = {
            "id": "msg_conf", "type": "message", "role": "assistant", "model": "conformance-model-1",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": tokens_input, "output_tokens": tokens_output},
        }
        return Reply(200, {"content-type": "application/json"}, dumps(body).encode())

    def stream_reply(self, pieces: Sequence[str], tokens_input: int, tokens_output: int) -> Reply:
        message = {"id": "msg_conf", "type": "message", "role": "assistant", "model": "conformance-model-1",
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": tokens_input, "output_tokens": 1}}
        events = [
            sse_event("message_start", {"type": "message_start", "message": message}),
            sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}}),
            sse_event("ping", {"type": "ping"}),
            *(
                sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": p}})
                for p in pieces
            ),
            sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse_event("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": tokens_output}}),
            sse_event("message_stop", {"type": "message_stop"}),
        ]
        return Reply.stream(events)

    def error_reply(self, status: int, message: str) -> Reply:
        etype = _TYPES.get(status, "api_error")
        return Reply(status, {"content-type": "application/json", "request-id": "req_conf"},
                     error_body(etype, message, "req_conf"))

    def health_reply(self) -> Reply:
        return Reply.json({"data": [{"type": "model", "id": "conformance-model-1"}],
                           "has_more": False, "first_id": None, "last_id": None})
