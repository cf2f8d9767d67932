"""The input guard and cursor rules, in process (no servers): what a caller sees."""

from __future__ import annotations

import base64
import json
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from halcyon.shared.http.guard import InputGuardMiddleware, InputLimits
from halcyon.shared.http.middleware import RequestIdMiddleware
from halcyon.shared.http.pagination import PageParams, page_params
from halcyon.shared.http.problems import install_problem_handlers
from halcyon.shared.text import FreeText, Name
from pydantic import BaseModel, ValidationError


class Note(BaseModel):
    title: str = ""
    text: str = ""
    extra: dict[str, Any] = {}
    amount: int | float = 0


def _app(received: list[Note]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(
        InputGuardMiddleware, limits=InputLimits(max_body_bytes=16_384, max_string_chars=1000)
    )
    app.add_middleware(RequestIdMiddleware)

    @app.post("/notes", status_code=201)
    async def create(note: Note) -> dict[str, str]:
        received.append(note)
        return {"ok": "yes"}

    @app.get("/notes")
    async def listing(page: PageParams = Depends(page_params)) -> dict[str, Any]:
        return {"cursor": page.cursor}

    return app


@pytest.fixture
def received() -> list[Note]:
    return []


@pytest.fixture
async def client(received: list[Note]) -> Any:
    transport = httpx.ASGITransport(app=_app(received))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def _raw(value: str) -> bytes:
    return ('{"title": "' + value + '"}').encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (json.dumps({"title": "a\x00b"}).encode(), 422),
        (json.dumps({"title": "bell\x07"}).encode(), 422),
        (json.dumps({"title": "esc\x1b[31m"}).encode(), 422),
        (json.dumps({"title": "c1\x85"}).encode(), 422),
        (_raw("\\ud800"), 422),
        (json.dumps({"extra": {"bad\x00key": 1}}).encode(), 422),
        (json.dumps({"extra": {"$where": 1}}).encode(), 422),
        (json.dumps({"text": "x" * 1001}).encode(), 422),
        (b'{"amount": 1e400}', 422),
        (b'{"amount": ' + b"9" * 5000 + b"}", 422),
        (b'{"amount": 9007199254740993}', 422),
        (b'{"amount": NaN}', 422),
        (b'{"amount": -Infinity}', 422),
        (b'{"extra": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}", 400),
        (b"[" * 100_000 + b"]" * 100_000, 413),
        (b'{"title": ', 400),
        (b"\xff\xfe{}", 400),
    ],
)
async def test_bad_bodies_are_problems_and_reach_no_route(
    client: httpx.AsyncClient, received: list[Note], body: bytes, status: int
) -> None:
    response = await client.post(
        "/notes", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert received == []


async def test_tab_and_newline_pass_in_free_text(
    client: httpx.AsyncClient, received: list[Note]
) -> None:
    response = await client.post("/notes", json={"text": "line one\n\tline two\r\n", "amount": 2.5})
    assert response.status_code == 201, response.text
    assert received[0].text == "line one\n\tline two\r\n"


async def test_a_deep_array_within_the_body_limit_is_refused(client: httpx.AsyncClient) -> None:
    body = b"[" * 2000 + b"]" * 2000
    response = await client.post(
        "/notes", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/too-deeply-nested")


async def test_an_oversized_body_is_refused_while_it_streams(
    client: httpx.AsyncClient, received: list[Note]
) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024  # no Content-Length: counted as it arrives

    response = await client.post(
        "/notes", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["max_body_bytes"] == 16_384
    assert received == []


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!!",
        "%%%",
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(b'{"$ne": null}').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"1.5").decode(),
        base64.urlsafe_b64encode(b"NaN").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "\u00e9t\u00e9",
    ],
)
async def test_a_cursor_we_did_not_hand_out_is_a_400(
    client: httpx.AsyncClient, cursor: str
) -> None:
    response = await client.get("/notes", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_cursor_we_handed_out_is_accepted(client: httpx.AsyncClient) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps("0193-abc").encode()).decode()
    response = await client.get("/notes", params={"cursor": cursor})
    assert response.status_code == 200
    assert response.json() == {"cursor": cursor}


async def test_control_characters_in_the_query_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes", params={"cursor": "a\x00b"})
    assert response.status_code == 422
    response = await client.get("/notes%00x")
    assert response.status_code == 400


def test_names_are_one_line_and_free_text_keeps_newlines() -> None:
    class Person(BaseModel):
        name: Name
        story: FreeText = ""

    assert Person(name="  Ada Lovelace ", story="a\n\tb").name == "Ada Lovelace"
    for bad in ["", "a\nb", "a\tb", "a\x00b", "x" * 201]:
        with pytest.raises(ValidationError):
            Person(name=bad)
    with pytest.raises(ValidationError):
        Person(name="Ada", story="x\x00")


def test_a_route_allowed_larger_bodies_gets_its_own_limit_and_others_the_default() -> None:
    from halcyon.shared.http.guard import InputLimits, body_limit

    limits = InputLimits(max_body_bytes=1024, larger_bodies=(("/remittances", 10 * 1024),))
    assert body_limit(limits, "/remittances") == 10 * 1024
    assert body_limit(limits, "/remittances/") == 10 * 1024
    assert body_limit(limits, "/remittances/abc") == 1024
    assert body_limit(limits, "/payers") == 1024


def test_a_path_template_allows_its_larger_limit_on_one_segment_only() -> None:
    from halcyon.shared.http.guard import InputLimits, body_limit, path_matches

    assert path_matches("/clients/{client_id}/documents", "/clients/c-1/documents")
    assert path_matches("/clients/{client_id}/documents", "/clients/c-1/documents/")
    assert not path_matches("/clients/{client_id}/documents", "/clients//documents")
    assert not path_matches("/clients/{client_id}/documents", "/clients/a/b/documents")
    assert not path_matches("/clients/{client_id}/documents", "/clients/c-1/notes")
    limits = InputLimits(
        max_body_bytes=1024, larger_bodies=(("/clients/{client_id}/documents", 10 * 1024),)
    )
    assert body_limit(limits, "/clients/c-1/documents") == 10 * 1024
    assert body_limit(limits, "/clients/c-1/notes") == 1024


async def test_a_body_cut_off_by_a_disconnect_never_reaches_a_route() -> None:
    received: list[Note] = []
    app = _app(received)
    messages: list[MutableMapping[str, Any]] = [
        # What arrived happens to parse, but the client said more was coming.
        {"type": "http.request", "body": b'{"title": "half"}', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "path": "/notes",
        "raw_path": b"/notes", "query_string": b"", "root_path": "", "scheme": "http",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    assert received == []  # nothing of the half body reached the route
    assert not any(m.get("status") == 201 for m in sent)


async def test_a_negative_content_length_is_refused(
    client: httpx.AsyncClient, received: list[Note]
) -> None:
    response = await client.post(
        "/notes", content=b'{"title": "x"}',
        headers={"content-type": "application/json", "content-length": "-5"},
    )  # fmt: skip
    assert response.status_code == 400
    assert received == []
