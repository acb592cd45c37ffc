"""What the end-to-end tests share (imported, unlike fixtures): request bodies, tokens of
every kind, problem+json checks, and a plain HTTP call for a live server."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from api.bootstrap import Container, build
from ledger.settings import Settings
from tests.support import FakeClock

OFFICE = "us-president"
OTHER_OFFICE = "state-department"
PRESIDENT_ID = "822215679726100480"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class Tokens:
    admin: str
    recorder: str  # any office
    office_recorder: str  # OFFICE only
    other_recorder: str  # OTHER_OFFICE only
    reader: str
    revoked: str

    @classmethod
    def issue(cls, container: Container) -> Tokens:
        access = container.access
        revoked = access.issue("former-clerk", "recorder", (OFFICE,))
        access.revoke("former-clerk")
        return cls(
            admin=access.issue("records-admin", "admin"),
            recorder=access.issue("records-office", "recorder"),
            office_recorder=access.issue("potus-clerk", "recorder", (OFFICE,)),
            other_recorder=access.issue("state-clerk", "recorder", (OTHER_OFFICE,)),
            reader=access.issue("dispute-panel", "reader"),
            revoked=revoked,
        )


def make_container(url: str, clock: FakeClock, **settings: Any) -> Container:
    return build(Settings(database_url=url, **settings), clock=clock)


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "platform": "x",
        "platform_account_id": PRESIDENT_ID,
        "handle": "@POTUS",
        "office": OFFICE,
        "effective_at": "2017-01-20T17:00:00Z",
        "reason": "official account of the President",
        "evidence": [{"url": "https://records.example.gov/potus"}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def assignment(holder_id: str = "trump-45", name: str = "Donald J. Trump", **extra: Any) -> dict:
    return {
        "type": "holder_assigned",
        "holder": {"id": holder_id, "name": name},
        "effective_at": "2017-01-20T17:00:00Z",
        **extra,
    }


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"https://custody-ledger.example/problems/{code}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


def call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    payload = None if body is None else json.dumps(body).encode()
    conn.request(
        method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
    )
    response = conn.getresponse()
    raw = response.read()
    content_type = response.getheader("content-type", "")
    data = json.loads(raw) if "json" in content_type else raw.decode()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


@dataclass
class LiveServer:
    host: str
    port: int
    container: Container
    tokens: Tokens
