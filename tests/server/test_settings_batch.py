"""``FRUGAL_BATCH_DEFERRED_LIMITS``: per-provider RPM / TPM / concurrency of the deferred queue."""

from __future__ import annotations

import pytest

from server.config import ConfigError, load_settings
from server.settings_batch import DeferredLimit


def test_entries_give_each_provider_its_limits() -> None:
    settings = load_settings({"FRUGAL_BATCH_DEFERRED_LIMITS": "openai=60/90000,auto=/5000/2,x=3/"})
    assert settings.batch.limits_by_provider() == {
        "openai": DeferredLimit(requests=60, tokens=90000, concurrency=None),
        "auto": DeferredLimit(requests=None, tokens=5000, concurrency=2),
        "x": DeferredLimit(requests=3, tokens=None, concurrency=None),
    }


@pytest.mark.parametrize("entry", ["openai", "openai=0/", "openai=1/2/0", "open ai=1/"])
def test_a_malformed_entry_names_the_variable(entry: str) -> None:
    with pytest.raises(ConfigError, match="FRUGAL_BATCH_DEFERRED_LIMITS"):
        load_settings({"FRUGAL_BATCH_DEFERRED_LIMITS": entry})
