"""The bench's hostile callers: hang-ups mid-upload and mid-stream, slow drips, wrong keys,
and attempts to read another tenant's or user's personal data.

Wrong keys come from another loopback address (127.0.0.2), so the failed-authentication limit
they trip falls on them and not on the well-behaved callers of 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import anyio

from bench.faults.clients import bearer, chat, completion_body, new_tag
from bench.faults.fleet import ACME_KEY, ADA_KEY, BETA_KEY, HANGUP_KEY
from bench.faults.outcome import Outcome, error_code

DEMO_ACCOUNTS = Path(__file__).resolve().parents[2] / "examples" / "support" / "demo_accounts.json"
_ACME_SIGNING = "not-the-operators-secret-0123456789abcdef"


def _host_port(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _request_head(base: str, path: str, length: int, key: str) -> bytes:
    host, port = _host_port(base)
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def hang_up_uploading(base: str) -> Outcome:
    """Send the headers and a third of the body, then close the connection."""
    body = json.dumps(completion_body("gpt-4o-mini", "x" * 600, new_tag("upload"))).encode()
    outcome = Outcome("hangup_upload", "hangup")
    host, port = _host_port(base)
    async with await anyio.connect_tcp(host, port) as stream:
        await stream.send(_request_head(base, "/v1/chat/completions", len(body), HANGUP_KEY))
        await stream.send(body[: len(body) // 3])
        await anyio.sleep(0.05)
    return outcome


async def slow_drip(base: str, *, byte_every_s: float = 0.3) -> Outcome:
    """Drip a body a byte at a time; the gateway should answer 408 once its read timeout ends."""
    body = json.dumps(completion_body("gpt-4o-mini", "drip", new_tag("drip"))).encode()
    outcome = Outcome("slow_drip", "acme", cost=0)
    host, port = _host_port(base)
    async with await anyio.connect_tcp(host, port) as stream:
        await stream.send(_request_head(base, "/v1/chat/completions", len(body), ACME_KEY))
        received = b""
        with anyio.move_on_after(15):
            for byte in body:
                try:
                    await stream.send(bytes([byte]))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    break
                with anyio.move_on_after(byte_every_s):
                    received += await stream.receive()
                    break
            while b"\r\n\r\n" not in received:
                received += await stream.receive()
    head = received.split(b"\r\n", 1)[0].split()
    outcome.status = int(head[1]) if len(head) > 1 else 0
    outcome.code = error_code(received.partition(b"\r\n\r\n")[2].decode(errors="replace"))
    return outcome


async def hang_up_streaming(http: aiohttp.ClientSession, base: str) -> Outcome:
    """Start a stream, read its first bytes, and leave; the client never sees a bill."""
    tag = new_tag("hangup")
    outcome = Outcome("hangup_stream", "hangup", tag)
    body = completion_body("gpt-4o-mini", f"Tell me about parcel {tag}", tag, stream=True)
    try:
        async with http.post(
            f"{base}/v1/chat/completions", json=body, headers=bearer(HANGUP_KEY)
        ) as response:
            outcome.status = response.status
            await response.content.readany()
            response.close()
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.text = f"connection: {exc!r}"
    return outcome


async def wrong_key(base: str) -> Outcome:
    """A request with a key nobody was given, from 127.0.0.2."""
    outcome = Outcome("wrong_key", "none", cost=0)
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        body = completion_body("gpt-4o-mini", "hello", new_tag("wrong"))
        headers = bearer("sk-" + secrets.token_urlsafe(24))
        async with http.post(f"{base}/v1/chat/completions", json=body, headers=headers) as resp:
            outcome.status = resp.status
            outcome.code = error_code(await resp.text())
    return outcome


def _forged_user(user: str) -> dict[str, str]:
    # acme's user signed with a secret that is not the operator's: must not verify.
    stamp = str(int(time.time()))
    message = f"acme\n{user}\n{stamp}".encode()
    sig = hmac.new(_ACME_SIGNING.encode(), message, hashlib.sha256).hexdigest()
    return {"x-frugal-user": user, "x-frugal-user-ts": stamp, "x-frugal-user-sig": sig}


async def personal_data_attempts(
    http: aiohttp.ClientSession, base: str
) -> list[tuple[str, Outcome]]:
    """Ways to ask for another user's profile and orders; each with the user it targets."""
    ask = "Show my profile and where is my order 1011?"
    attempts = (
        ("u-1001", bearer(BETA_KEY), {"message": ask, "user_id": "u-1001"}),  # other tenant
        ("u-1001", {**bearer(BETA_KEY), **_forged_user("u-1001")}, {"message": ask}),  # forged
        ("u-1002", bearer(ADA_KEY), {"message": ask, "user_id": "u-1002"}),  # ada as another
        ("u-1001", bearer(ACME_KEY), {"message": ask, "user_id": "u-1001"}),  # unverified claim
    )
    found = []
    for victim, headers, body in attempts:
        outcome = await chat(http, base, headers, kind="personal", tenant="-", body=body)
        found.append((victim, outcome))
    return found


def _markers(user_id: str) -> list[str]:
    data = json.loads(DEMO_ACCOUNTS.read_text(encoding="utf-8"))
    user = next(u for u in data["users"] if u["id"] == user_id)
    orders = [o for o in data["orders"] if o["user_id"] == user_id]
    return [user["name"], user["email"], *(o["tracking"] for o in orders if o["tracking"])]


def leaked(victim: str, outcome: Outcome) -> bool:
    """The answer holds ``victim``'s name, email or a parcel tracking number."""
    return any(marker in outcome.text for marker in _markers(victim))
