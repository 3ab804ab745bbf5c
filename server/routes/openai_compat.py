"""``GET /v1/models`` and ``GET /v1/models/{id}``: the models the gateway serves, in OpenAI's
list and object shapes (``auto`` lets Frugal's router choose)."""

from __future__ import annotations

from typing import Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.errors import ModelNotFound
from server.state import app_state


class ModelCard(msgspec.Struct, frozen=True):
    id: str
    owned_by: str
    created: int = 0
    object: Literal["model"] = "model"


class ModelList(msgspec.Struct, frozen=True):
    data: list[ModelCard]
    object: Literal["list"] = "list"


_encoder: Final = msgspec.json.Encoder()


def _cards(request: Request) -> list[ModelCard]:
    registry = app_state(request).components.registry
    cards = [ModelCard(name, owned_by="frugal") for name in registry.auto_aliases]
    for spec in registry.models():
        cards.append(ModelCard(spec.name, owned_by=spec.provider))
        cards.extend(ModelCard(alias, owned_by=spec.provider) for alias in spec.aliases)
    return cards


async def list_models(request: Request) -> Response:
    """Every model the gateway serves."""
    return Response(_encoder.encode(ModelList(_cards(request))), media_type="application/json")


async def get_model(request: Request) -> Response:
    """One model; 404 ``model_not_found`` in OpenAI's shape when it is not served."""
    name = request.path_params["model"]
    for card in _cards(request):
        if card.id == name:
            return Response(_encoder.encode(card), media_type="application/json")
    raise ModelNotFound(
        f"The model `{name[:100]}` does not exist or is not served here.", model=name
    )


__all__ = ["ModelCard", "ModelList", "get_model", "list_models"]
