"""The gateway over plain HTTP: malformed input, limits, paths, listening rules, stopping,
and a client that leaves mid-stream."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import httpx
import pytest
from _gateway import openai_backend, run_serve, write_config
from _stalling import StallingUpstream

CHAT = "/v1/chat/completions"
HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hello there"}]}


def _post(gateway, body: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(gateway.url + CHAT, content=body, headers={"content-type": "application/json", **headers})


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_malformed_json_is_a_400(gateway):
    error = _error(_post(gateway, b'{"model": "auto", "messages": ['), 400)
    assert "not valid JSON" in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "auto"}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "auto", "messages": "hi"}, "messages"),
        ({"model": "auto", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "auto", "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0]"),
        ({**HELLO, "max_tokens": 0}, "max_tokens"),
        ({**HELLO, "stream": "yes"}, "stream"),
        ({**HELLO, "stop": 3}, "stop"),
        ({**HELLO, "n": 2}, "n"),
        ({**HELLO, "stream_options": {"include_usage": True}}, "stream_options"),
        ({**HELLO, "frobnicate": True}, "frobnicate"),
        (["not", "an", "object"], None),
    ],
)
def test_a_bad_field_is_a_400_naming_it(gateway, openai_emulator, body, param):
    error = _error(_post(gateway, json.dumps(body)), 400)
    assert error["param"] == param
    assert openai_emulator.chat_count == 0


def test_text_parts_are_joined_into_the_message(gateway, openai_emulator):
    body = {"model": "openai", "messages": [{"role": "user", "content": [{"type": "text", "text": "two "}, {"type": "text", "text": "parts"}]}]}
    response = _post(gateway, json.dumps(body))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Echo: two parts"


def test_an_unknown_path_and_a_wrong_method_answer_in_openais_shape(gateway):
    assert _error(httpx.get(gateway.url + "/v1/embeddings"), 404)["code"] == "unknown_url"
    _error(httpx.get(gateway.url + CHAT), 405)
    _error(httpx.post(gateway.url + "/v1/models"), 405)


def test_health_answers_200(gateway):
    response = httpx.get(gateway.url + "/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.json()["worker"] == gateway.worker_pids()[0]


def test_a_body_over_the_limit_is_a_413(start_gateway, openai_emulator):
    gateway = start_gateway(
        {"server": {"max_body_bytes": 2000}, "backends.openai": openai_backend(openai_emulator.base_url)}
    )
    big = json.dumps({**HELLO, "messages": [{"role": "user", "content": "x" * 5000}]})
    error = _error(_post(gateway, big), 413)
    assert error["code"] == "request_too_large"

    def chunks():  # no content-length: the limit holds while reading
        yield big[:1500].encode()
        yield big[1500:].encode()

    response = httpx.post(gateway.url + CHAT, content=chunks())
    _error(response, 413)
    assert _post(gateway, json.dumps(HELLO)).status_code == 200
    assert openai_emulator.chat_count == 1


def test_a_public_address_without_keys_is_refused(tmp_path, openai_emulator):
    config = write_config(tmp_path / "c.toml", {"backends.openai": openai_backend(openai_emulator.base_url)})
    done = run_serve(["-c", str(config), "--host", "0.0.0.0", "--port", "9"])
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in done.stderr
    assert "--insecure" in done.stderr


def test_insecure_serves_on_a_public_address_without_keys(start_gateway, openai_emulator):
    gateway = start_gateway(
        {"backends.openai": openai_backend(openai_emulator.base_url)}, "--host", "0.0.0.0", "--insecure"
    )
    assert _post(gateway, json.dumps(HELLO)).status_code == 200
    assert f"serving on http://0.0.0.0:{gateway.port}" in gateway.output()


def test_a_bad_server_table_names_every_problem(tmp_path):
    config = write_config(tmp_path / "c.toml", {"server": {"workers": "two", "colour": "blue"}})
    done = run_serve(["-c", str(config)])
    assert done.returncode == 3
    assert "server.workers" in done.stderr and "server.colour: unknown key" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_after_the_requests_in_flight(start_gateway, openai_emulator, sig):
    gateway = start_gateway({"backends.openai": openai_backend(openai_emulator.base_url)})
    openai_emulator.reply_delay = 1.0
    try:
        result: dict[str, httpx.Response] = {}
        caller = threading.Thread(target=lambda: result.setdefault("r", _post(gateway, json.dumps(HELLO))))
        caller.start()
        deadline = time.monotonic() + 10
        while openai_emulator.chat_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateway.stop(sig) == 0
        caller.join(10)
    finally:
        openai_emulator.reply_delay = 0.0
    assert result["r"].status_code == 200
    assert result["r"].json()["choices"][0]["message"]["content"] == "Echo: hello there"
    with pytest.raises(httpx.ConnectError):
        httpx.get(gateway.url + "/health")


def test_a_client_leaving_mid_stream_cancels_the_upstream_call(start_gateway):
    with StallingUpstream(events=2) as upstream:
        gateway = start_gateway({"backends.stall": openai_backend(upstream.base_url, timeout=60.0)})
        body = json.dumps({**HELLO, "stream": True}).encode()
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            sock.sendall(
                f"POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n".encode() + body
            )
            received = b""
            while b"word1" not in received:
                data = sock.recv(65536)
                assert data, "the gateway closed the stream early"
                received += data
            left = time.monotonic()
        deadline = time.monotonic() + 10
        while not upstream.closed_at and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream.requests == 1
        assert upstream.closed_at, "the upstream call went on after the client left"
        assert upstream.closed_at[0] - left < 1.0


def test_a_stop_cancels_what_outlasts_the_grace_period(start_gateway, openai_emulator):
    gateway = start_gateway(
        {"server": {"grace_period": 1}, "backends.openai": openai_backend(openai_emulator.base_url)}
    )
    openai_emulator.reply_delay = 20.0
    try:
        replies: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: replies.append(_post(gateway, json.dumps(HELLO))))
        caller.start()
        deadline = time.monotonic() + 10
        while openai_emulator.chat_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        stopping = time.monotonic()
        assert gateway.stop(signal.SIGTERM) == 0
        took = time.monotonic() - stopping
        caller.join(10)
    finally:
        openai_emulator.reply_delay = 0.0
    assert took < 10.0, f"the stop took {took:.1f} s with a 1 s grace period"
    # The call was cancelled, not answered: a 503 in OpenAI's shape, which its SDKs retry.
    (reply,) = replies
    assert _error(reply, 503)["code"] == "server_stopping"


def test_an_idle_connection_outlives_the_clients_pool_expiry(gateway):
    # httpx and the OpenAI SDKs drop an idle pooled connection after 5 s; a server that
    # closes it first races the client's next request on it.
    request = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"

    def whole_reply(sock: socket.socket) -> bytes:
        """One response, headers and body (the body may come in a later segment)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data  # closed
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break  # closed mid-body
            body += chunk
        return head + b"\r\n\r\n" + body

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10.0) as sock:
        sock.sendall(request)
        assert whole_reply(sock).startswith(b"HTTP/1.1 200")
        time.sleep(6.0)
        sock.sendall(request)
        assert whole_reply(sock).startswith(b"HTTP/1.1 200"), "the gateway closed an idle connection"
