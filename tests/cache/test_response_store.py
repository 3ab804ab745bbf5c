"""`ResponseStore` over the in-memory store: per-tenant keys, the conversation, TTLs."""

from __future__ import annotations

import pytest

from cache.memory import MemoryTTLStore
from cache.response_store import MAX_ID_LENGTH, ResponseStore, StoredResponse

pytestmark = pytest.mark.anyio


def stored(response_id: str) -> StoredResponse:
    return StoredResponse(
        response={"id": response_id, "output": [{"type": "message", "id": "msg_out"}]},
        input_items=[{"type": "message", "id": "msg_in"}],
        context=[{"type": "message", "id": "msg_before"}],
    )


async def test_a_tenant_reads_only_its_own_responses() -> None:
    store = ResponseStore(MemoryTTLStore(), ttl_s=60)
    await store.put("acme", stored("resp_1"))
    assert await store.get("acme", "resp_1") == stored("resp_1")
    assert await store.get("globex", "resp_1") is None
    assert await store.delete("globex", "resp_1") is False
    assert await store.delete("acme", "resp_1") is True
    assert await store.get("acme", "resp_1") is None


async def test_the_conversation_is_context_input_then_output() -> None:
    ids = [item["id"] for item in stored("resp_2").conversation()]
    assert ids == ["msg_before", "msg_in", "msg_out"]


async def test_odd_ids_are_simply_unknown() -> None:
    store = ResponseStore(MemoryTTLStore(), ttl_s=60)
    assert await store.get("acme", "") is None
    assert await store.get("acme", "x" * (MAX_ID_LENGTH + 1)) is None


async def test_entries_expire() -> None:
    now = [1000.0]
    store = ResponseStore(MemoryTTLStore(clock=lambda: now[0]), ttl_s=60)
    await store.put("acme", stored("resp_3"))
    now[0] += 59
    assert await store.get("acme", "resp_3") is not None
    now[0] += 2
    assert await store.get("acme", "resp_3") is None
