"""Start-up objects are frozen out of the cyclic GC's full passes once the app is ready."""

from __future__ import annotations

import gc

import pytest

from server.app import create_app
from server.config import load_settings

pytestmark = pytest.mark.anyio


async def test_objects_built_at_start_up_are_frozen() -> None:
    gc.unfreeze()
    app = create_app(load_settings({}))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000  # tokenizer tables, weights, knowledge base
    gc.unfreeze()
