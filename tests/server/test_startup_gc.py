"""`frugal serve` freezes start-up objects out of the cyclic GC's full passes once the app is
ready; an app built by a library user leaves its process's GC alone."""

from __future__ import annotations

import gc

import pytest

from server.app import create_app
from server.config import load_settings
from server.process_tuning import freeze_startup_objects

pytestmark = pytest.mark.anyio


async def test_objects_built_at_start_up_are_frozen_when_serving() -> None:
    gc.unfreeze()
    app = create_app(load_settings({}), on_ready=freeze_startup_objects)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000  # tokenizer tables, weights, knowledge base
    gc.unfreeze()


async def test_an_embedded_app_leaves_the_gc_alone() -> None:
    gc.unfreeze()
    app = create_app(load_settings({}))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
