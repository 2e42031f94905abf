"""What OllamaBackend sends to ``POST /api/chat``."""

from __future__ import annotations

from claudette import ClaudetteRequest, Message

from claudette_backend_ollama.testing import OllamaEmulator
from conftest import MakeBackend


async def test_send_posts_to_api_chat(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert [(r.method, r.path) for r in emulator.requests] == [("POST", "/api/chat")]
    assert emulator.requests[0].headers["content-type"] == "application/json"


async def test_send_asks_for_one_answer_explicitly(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].json()["stream"] is False


async def test_stream_asks_for_a_stream(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    _ = [c async for c in make_backend().stream(ClaudetteRequest(prompt="hi"))]
    assert emulator.requests[0].json()["stream"] is True


async def test_messages_keep_every_role_in_order(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    request = ClaudetteRequest(
        messages=[
            Message("system", "be brief"),
            Message("user", "what is 2+2?"),
            Message("assistant", "4"),
            Message("tool", '{"result": 4}'),
        ],
        prompt="and 3+3?",
    )
    await make_backend().send(request)
    assert emulator.requests[0].json()["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "tool", "content": '{"result": 4}'},
        {"role": "user", "content": "and 3+3?"},
    ]


async def test_model_comes_from_settings(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.models.append("llama3.2:1b")
    await make_backend(model="llama3.2:1b").send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].json()["model"] == "llama3.2:1b"


async def test_default_model_is_qwen(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].json()["model"] == "qwen2.5:7b"


async def test_request_model_overrides_settings(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.models.append("phi4:14b")
    await make_backend().send(ClaudetteRequest(prompt="hi", options={"model": "phi4:14b"}))
    assert emulator.requests[0].json()["model"] == "phi4:14b"


async def test_max_tokens_and_temperature_become_options(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    request = ClaudetteRequest(prompt="hi", options={"max_tokens": 64, "temperature": 0.2})
    await make_backend().send(request)
    assert emulator.requests[0].json()["options"] == {"temperature": 0.2, "num_predict": 64}


async def test_settings_give_default_options(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend(max_tokens=100, temperature=0.7).send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].json()["options"] == {"temperature": 0.7, "num_predict": 100}


async def test_request_options_win_over_settings(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    backend = make_backend(max_tokens=100, temperature=0.7)
    await backend.send(ClaudetteRequest(prompt="hi", options={"max_tokens": 5, "temperature": 0.0}))
    assert emulator.requests[0].json()["options"] == {"temperature": 0.0, "num_predict": 5}


async def test_unset_options_are_not_sent(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi"))
    body = emulator.requests[0].json()
    assert "options" not in body
    assert "keep_alive" not in body


async def test_only_given_options_are_sent(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi", options={"max_tokens": 8}))
    assert emulator.requests[0].json()["options"] == {"num_predict": 8}


async def test_stop_sequences_go_to_options_stop(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi", options={"stop": ["\n\n", "END"]}))
    assert emulator.requests[0].json()["options"] == {"stop": ["\n\n", "END"]}


async def test_keep_alive_comes_from_extra(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend(extra={"keep_alive": "10m"}).send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].json()["keep_alive"] == "10m"


async def test_extra_options_are_merged_under_request_options(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    backend = make_backend(extra={"options": {"num_ctx": 8192, "num_predict": 1}})
    await backend.send(ClaudetteRequest(prompt="hi", options={"max_tokens": 20}))
    assert emulator.requests[0].json()["options"] == {"num_ctx": 8192, "num_predict": 20}


async def test_no_authorization_header_is_sent(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert "authorization" not in emulator.requests[0].headers


async def test_configured_headers_are_sent(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    await make_backend(headers={"x-proxy-token": "t0k"}).send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[0].headers["x-proxy-token"] == "t0k"
