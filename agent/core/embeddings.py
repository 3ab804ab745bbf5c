"""`EmbeddingsCore`: ``/v1/embeddings`` with the exact cache in front and the cost counted.

A request is forwarded as the caller sent it to the backend that serves its model (an
OpenAI-compatible provider, or the gateway's own local embedder); the provider's response
is returned and cached under a key of the whole request less ``user``. A hit costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp
import msgspec
import numpy as np

from agent import untrusted_json
from agent.base import Embedder
from agent.core.costing import CostModel
from agent.core.request import InvalidParam, check_model_name, param_of
from agent.errors import ModelNotFound, ProtocolError
from agent.http import post_json
from agent.openai_wire import usage_from_dict
from agent.tokens import count_text_tokens
from agent.types import Usage
from cache.base import TTLStore
from cache.errors import CacheError
from cache.keys import EMBEDDINGS_PREFIX

_log = logging.getLogger(__name__)

MAX_INPUTS: Final = 2048
_key_encoder: Final = msgspec.json.Encoder(order="sorted")


class _EmbeddingsView(msgspec.Struct, frozen=True):
    model: str
    input: str | list[Any]
    encoding_format: str | None = None
    dimensions: int | None = None


_view_decoder: Final = msgspec.json.Decoder(_EmbeddingsView)


class EmbeddingsBackend(Protocol):
    """Answers one embeddings request with the response body, in OpenAI's shape."""

    async def create(self, body: dict[str, Any], raw: bytes) -> bytes:
        """The response JSON; raises a `ProviderError` subclass on failure."""
        ...


class ProviderEmbeddings:
    """An OpenAI-compatible ``/embeddings`` endpoint; the caller's bytes are sent as is."""

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: str, timeout_s: float
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/embeddings"
        self._timeout_s = timeout_s
        self._headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}

    async def create(self, body: dict[str, Any], raw: bytes) -> bytes:
        return await post_json(
            self._session,
            self._url,
            body=raw,
            headers=self._headers,
            timeout_s=self._timeout_s,
            provider="openai",
        )


class LocalEmbeddings:
    """The gateway's own embedder (e.g. all-MiniLM-L6-v2) answering in OpenAI's shape."""

    def __init__(self, embedder: Embedder, *, model: str) -> None:
        self._embedder = embedder
        self._model = model

    async def create(self, body: dict[str, Any], raw: bytes) -> bytes:
        texts = _texts(body.get("input"))
        vectors = await self._embedder.embed(texts)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(row.astype(np.float32).tobytes()).decode()
                if as_base64
                else row.tolist(),
            }
            for i, row in enumerate(vectors)
        ]
        tokens = sum(count_text_tokens(t, "text-embedding-3-small") for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return msgspec.json.encode(
            {"object": "list", "data": data, "model": self._model, "usage": usage}
        )


@dataclass(frozen=True, slots=True)
class EmbeddingsResult:
    """The response body to send and its accounting."""

    body: bytes
    model: str
    usage: Usage
    cost_usd_micros: int
    cost_known: bool
    saved_usd_micros: int
    cache: str | None


class _Stored(msgspec.Struct, frozen=True):
    body: bytes
    cost_usd_micros: int


class EmbeddingsCore:
    """Serves embeddings through the exact cache; ``backends`` maps model names to the
    backend that serves them (``default`` serves priced names not listed)."""

    def __init__(
        self,
        *,
        backends: Mapping[str, EmbeddingsBackend],
        default: EmbeddingsBackend | None,
        costs: CostModel,
        store: TTLStore | None,
        ttl_s: float,
    ) -> None:
        self._backends = dict(backends)
        self._default = default
        self._costs = costs
        self._store = store
        self._ttl_s = ttl_s
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(_Stored)

    def models(self) -> list[str]:
        """The models served locally (a provider's are in the price table)."""
        return list(self._backends)

    async def create(self, raw: bytes, *, tenant: str) -> EmbeddingsResult:
        """Embed; raises `InvalidParam`, `ModelNotFound` or a `ProviderError`."""
        body, view = _decode(raw)
        backend = self._backend_for(view.model)
        key = self._key(tenant, body)
        stored = await self._lookup(key)
        if stored is not None:
            return EmbeddingsResult(
                stored.body, view.model, Usage(), 0, True, stored.cost_usd_micros, "exact"
            )
        answer = await backend.create(body, raw)
        try:
            usage = usage_from_dict(msgspec.json.decode(answer).get("usage") or {})
        except (msgspec.DecodeError, AttributeError) as exc:
            raise ProtocolError("the embeddings answer is not a JSON object") from exc
        micros = self._costs.cost_usd_micros(view.model, usage)
        cost = micros or 0
        await self._save(key, _Stored(answer, cost))
        return EmbeddingsResult(answer, view.model, usage, cost, micros is not None, 0, None)

    def _backend_for(self, model: str) -> EmbeddingsBackend:
        backend = self._backends.get(model)
        if backend is not None:
            return backend
        if self._default is not None and self._costs.cost_usd_micros(model, Usage(1)) is not None:
            return self._default
        raise ModelNotFound(
            f"The model `{model[:100]}` does not exist or is not served here.", model=model
        )

    def _key(self, tenant: str, body: dict[str, Any]) -> str:
        kept = {k: v for k, v in body.items() if k != "user"}
        digest = hashlib.sha256(tenant.encode() + b"\x1f" + _key_encoder.encode(kept))
        return EMBEDDINGS_PREFIX + digest.hexdigest()

    async def _lookup(self, key: str) -> _Stored | None:
        if self._store is None:
            return None
        try:
            found = await self._store.get(key)
            return None if found is None else self._decoder.decode(found)
        except (CacheError, msgspec.DecodeError) as exc:
            _log.warning("embeddings cache read failed: %s", exc)
            return None

    async def _save(self, key: str, stored: _Stored) -> None:
        if self._store is None or self._ttl_s <= 0:
            return
        try:
            await self._store.set(key, self._encoder.encode(stored), self._ttl_s)
        except CacheError as exc:
            _log.warning("embeddings cache write failed: %s", exc)


def _decode(raw: bytes) -> tuple[dict[str, Any], _EmbeddingsView]:
    try:
        body = untrusted_json.decode(raw, untrusted_json.ANY)
        view = untrusted_json.decode(raw, _view_decoder)
    except msgspec.ValidationError as exc:
        raise InvalidParam(str(exc), param=param_of(str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise InvalidParam(f"the body is not valid JSON: {exc}", param=None) from exc
    check_model_name(view.model)
    count = 1 if isinstance(view.input, str) else len(view.input)
    if count == 0 or count > MAX_INPUTS:
        raise InvalidParam(f"input must hold 1 to {MAX_INPUTS} items", param="input")
    return body, view


def _texts(value: Any) -> Sequence[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidParam("the local embedder takes text input, not token arrays", param="input")
