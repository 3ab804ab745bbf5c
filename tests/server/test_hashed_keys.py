"""API keys kept hashed at rest in the configuration: ``tenant:sha256:<hex>`` stands for the key
whose SHA-256 it is (issue 16: "API keys hashed at rest in config")."""

from __future__ import annotations

import hashlib

import aiohttp
import msgspec
import pytest

from server.config import ConfigError, load_settings
from server.settings import AuthSettings
from tests.support.cost_http import bearer, fast_settings
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio

KEY = "acme-key-kept-out-of-the-config-0123"
READ_KEY = "acme-read-key-kept-out-of-the-config"


def hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class TestSettings:
    def test_a_hashed_key_with_a_user_is_accepted(self) -> None:
        auth = AuthSettings(api_keys=(f"acme:{hashed(KEY)}:u-1001",))
        assert auth.api_keys == (f"acme:{hashed(KEY)}:u-1001",)

    @pytest.mark.parametrize(
        "entry",
        [
            "acme:sha256:abc",  # not 64 hex digits
            "acme:sha256:" + "G" * 64,
            "acme:" + hashed(KEY)[:-1],
        ],
    )
    def test_a_malformed_digest_is_refused(self, entry: str) -> None:
        with pytest.raises(ConfigError, match="sha256"):
            load_settings({"FRUGAL_AUTH_API_KEYS": entry})

    def test_the_same_key_plain_and_hashed_is_listed_twice(self) -> None:
        with pytest.raises(ConfigError, match="each key listed once"):
            load_settings({"FRUGAL_AUTH_API_KEYS": f"acme:{KEY},beta:{hashed(KEY)}"})


async def test_a_hashed_key_authenticates_its_tenant_and_user() -> None:
    base = fast_settings()
    auth = AuthSettings(
        api_keys=(f"acme:{hashed(KEY)}:u-1001",), read_keys=(f"acme:{hashed(READ_KEY)}",)
    )
    settings = msgspec.structs.replace(base, auth=auth)
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        async with http.post(
            f"{gw.base_url}/chat", json={"message": "hello"}, headers=bearer(KEY)
        ) as response:
            assert response.status == 200
        async with http.post(
            f"{gw.base_url}/chat", json={"message": "hello"}, headers=bearer(hashed(KEY))
        ) as response:
            assert response.status == 401  # the digest itself is not a key
        async with http.get(f"{gw.base_url}/stats", headers=bearer(READ_KEY)) as response:
            assert response.status == 200
            assert set((await response.json())["by_tenant"]) <= {"acme"}
