"""The emulator answers like Ollama (byte for byte like the recorded fixtures) and logs it all."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault, pieces_of
from conftest import fixture_bytes

CHAT = {"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def http(emulator: OllamaEmulator) -> Iterator[httpx.Client]:
    """A plain sync client for the emulator."""
    with httpx.Client(base_url=emulator.url, timeout=5) as client:
        yield client


def test_json_answer_equals_the_recorded_fixture(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={**CHAT, "stream": False})
    assert response.content == fixture_bytes("ollama-chat.json").strip()
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_stream_equals_the_recorded_fixture(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={**CHAT, "stream": True})
    assert response.content == fixture_bytes("ollama-chat-stream.ndjson")
    assert response.headers["content-type"] == "application/x-ndjson"


def test_absent_stream_flag_streams_like_ollama(http: httpx.Client) -> None:
    response = http.post("/api/chat", json=CHAT)
    assert response.headers["content-type"] == "application/x-ndjson"
    assert len(response.text.splitlines()) == 3


def test_unknown_model_gets_the_real_404_body(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={**CHAT, "model": "qwen9:404b", "stream": False})
    assert response.status_code == 404
    assert response.content == fixture_bytes("ollama-error-404.json").strip()


def test_missing_model_is_a_400(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={"messages": [], "stream": False})
    assert (response.status_code, response.json()) == (400, {"error": "model is required"})


def test_invalid_json_is_a_400(http: httpx.Client) -> None:
    response = http.post("/api/chat", content=b"{nope")
    assert response.status_code == 400
    assert "invalid character" in response.json()["error"]


def test_tags_list_the_models(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.models.append("llama3.2:1b")
    models = http.get("/api/tags").json()["models"]
    assert [m["name"] for m in models] == ["qwen2.5:7b", "llama3.2:1b"]
    assert {"model", "modified_at", "size", "digest", "details"} <= set(models[0])


def test_version_is_reported(http: httpx.Client) -> None:
    assert http.get("/api/version").json() == {"version": "0.5.1"}


def test_root_says_ollama_is_running(http: httpx.Client) -> None:
    response = http.get("/")
    assert (response.status_code, response.text) == (200, "Ollama is running")


def test_unknown_path_is_gins_404(http: httpx.Client) -> None:
    response = http.get("/v1/models")
    assert (response.status_code, response.text) == (404, "404 page not found")


def test_answers_are_deterministic(http: httpx.Client) -> None:
    body = {**CHAT, "stream": False}
    assert http.post("/api/chat", json=body).content == http.post("/api/chat", json=body).content


def test_reply_may_depend_on_the_request(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.reply = lambda body: body["messages"][-1]["content"].upper()
    data = http.post("/api/chat", json={**CHAT, "stream": False}).json()
    assert data["message"]["content"] == "HI"


def test_default_prompt_tokens_count_words() -> None:
    with OllamaEmulator() as emu, httpx.Client(base_url=emu.url) as client:
        body = {
            "model": "qwen2.5:7b",
            "messages": [{"role": "user", "content": "one two three"}],
            "stream": False,
        }
        assert client.post("/api/chat", json=body).json()["prompt_eval_count"] == 7


def test_zero_metrics_are_left_out(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.prompt_tokens = 0
    emulator.reply = ""
    data = http.post("/api/chat", json={**CHAT, "stream": False}).json()
    assert not {"prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"} & set(
        data
    )
    assert data["done"] is True


def test_num_predict_cuts_with_length(http: httpx.Client, emulator: OllamaEmulator) -> None:
    emulator.reply = "a b c d"
    data = http.post(
        "/api/chat", json={**CHAT, "stream": False, "options": {"num_predict": 3}}
    ).json()
    assert (data["message"]["content"], data["done_reason"], data["eval_count"]) == (
        "a b c",
        "length",
        3,
    )


def test_stop_sequence_cuts_the_reply(http: httpx.Client, emulator: OllamaEmulator) -> None:
    emulator.reply = "alpha beta END gamma"
    data = http.post(
        "/api/chat", json={**CHAT, "stream": False, "options": {"stop": ["END"]}}
    ).json()
    assert data["message"]["content"] == "alpha beta "


def test_scripted_status_error_has_ollama_body(
    emulator: OllamaEmulator, http: httpx.Client
) -> None:
    emulator.script(OllamaFault.status_error(503, "busy", headers={"retry-after": "4"}))
    response = http.post("/api/chat", json=CHAT)
    assert (response.status_code, response.json(), response.headers["retry-after"]) == (
        503,
        {"error": "busy"},
        "4",
    )


def test_scripted_faults_apply_in_order_then_stop(
    emulator: OllamaEmulator, http: httpx.Client
) -> None:
    emulator.script(OllamaFault.status_error(500), None, OllamaFault.status_error(502))
    statuses = [http.post("/api/chat", json=CHAT).status_code for _ in range(4)]
    assert statuses == [500, 200, 502, 200]


def test_persistent_fault_until_cleared(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.fail_always(OllamaFault.status_error(500))
    first = [http.post("/api/chat", json=CHAT).status_code for _ in range(2)]
    emulator.fail_always(None)
    assert [*first, http.post("/api/chat", json=CHAT).status_code] == [500, 500, 200]


def test_faults_do_not_touch_health_endpoints(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.fail_always(OllamaFault.status_error(500))
    assert http.get("/api/tags").status_code == 200


def test_error_line_follows_a_200(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.error_line("boom", after_lines=1))
    response = http.post("/api/chat", json=CHAT)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.status_code == 200
    assert lines[0]["message"]["content"] == "Hello"
    assert lines[-1] == {"error": "boom"}


def test_stream_unfinished_has_no_done_line(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.stream_unfinished(after_lines=2))
    lines = [json.loads(line) for line in http.post("/api/chat", json=CHAT).text.splitlines()]
    assert [line["done"] for line in lines] == [False, False]


def test_stream_cut_breaks_the_connection(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.stream_cut(after_lines=1))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/chat", json=CHAT)


def test_truncated_json_is_a_complete_response(
    emulator: OllamaEmulator, http: httpx.Client
) -> None:
    emulator.script(OllamaFault.truncated_json())
    response = http.post("/api/chat", json={**CHAT, "stream": False})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_reset_closes_without_answer(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.reset())
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/chat", json=CHAT)


def test_hang_sends_nothing(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.hang(5))
    with pytest.raises(httpx.ReadTimeout):
        http.post("/api/chat", json=CHAT, timeout=0.2)


def test_slow_answer_arrives_late(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.slow(0.3))
    response = http.post("/api/chat", json={**CHAT, "stream": False})
    assert response.elapsed.total_seconds() >= 0.3
    assert response.json()["done"] is True


def test_log_counts_chats_and_reported_usage(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.status_error(500))
    for stream in (False, False, True):
        http.post("/api/chat", json={**CHAT, "stream": stream})
    http.get("/api/tags")
    assert emulator.chat_count == 3
    assert [c.outcome for c in emulator.chats] == ["error:500", "ok", "ok"]
    assert [c.stream for c in emulator.chats] == [False, False, True]
    assert emulator.reported_usage() == (22, 4)
    assert len(emulator.requests) == 4


def test_clear_forgets_everything(emulator: OllamaEmulator, http: httpx.Client) -> None:
    emulator.script(OllamaFault.status_error(500))
    emulator.fail_always(OllamaFault.status_error(502))
    http.get("/")
    emulator.clear()
    assert (emulator.chat_count, emulator.requests) == (0, [])
    assert http.post("/api/chat", json=CHAT).status_code == 200


@pytest.mark.parametrize(
    ("text", "pieces"),
    [("Hello there", ["Hello", " there"]), ("a  b ", ["a", "  b "]), ("", []), ("  ", ["  "])],
)
def test_pieces_rebuild_the_text(text: str, pieces: list[str]) -> None:
    assert pieces_of(text) == pieces
