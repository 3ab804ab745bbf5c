"""The demo-data tools: order status and user profile over the bundled accounts."""

from __future__ import annotations

import time

import msgspec
import pytest

from agent.tools import (
    DemoAccounts,
    OrderStatusTool,
    Source,
    ToolCall,
    ToolRegistry,
    UserProfileTool,
    run_tools_concurrently,
)


@pytest.fixture(scope="module")
def accounts() -> DemoAccounts:
    return DemoAccounts.load_default()


class TestDemoAccounts:
    def test_bundled_data_is_consistent(self, accounts: DemoAccounts) -> None:
        assert len(accounts.users) == 10 and len(accounts.orders) == 25
        assert {o.status for o in accounts.orders} == {
            "processing",
            "shipped",
            "delivered",
            "refunded",
        }
        user_ids = {u.id for u in accounts.users}
        for order in accounts.orders:
            assert order.user_id in user_ids
            assert (order.carrier is None) == (order.status == "processing")
            assert (order.eta is not None) == (order.status in ("processing", "shipped"))

    def test_malformed_data_is_rejected(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            DemoAccounts.from_json(b'{"users": [], "orders": [], "extra": 1}')


class TestOrderStatusTool:
    @pytest.mark.anyio
    async def test_found_order_lists_status_carrier_and_eta(self, accounts: DemoAccounts) -> None:
        output = await OrderStatusTool(accounts).run({"order_id": "#1002 "})
        assert output.content.splitlines()[0] == "Order 1002: shipped"
        assert "Carrier: UPS, tracking number 1Z999AA" in output.content
        assert "Estimated delivery: 2025-08-26" in output.content
        assert output.sources == [Source(doc_id="order:1002", title="Order 1002", score=1.0)]

    @pytest.mark.anyio
    async def test_processing_order_has_no_carrier_yet(self, accounts: DemoAccounts) -> None:
        output = await OrderStatusTool(accounts).run({"order_id": "1001"})
        assert "Order 1001: processing" in output.content
        assert "Carrier" not in output.content

    @pytest.mark.anyio
    async def test_unknown_order_is_an_ok_not_found_output(self, accounts: DemoAccounts) -> None:
        registry = ToolRegistry([OrderStatusTool(accounts)])
        [result] = await run_tools_concurrently(
            registry, [ToolCall("order_status", {"order_id": "9999"}, "x")]
        )
        assert result.ok and result.error is None
        assert result.output is not None
        assert result.output.content == "Order '9999' was not found."
        assert result.output.sources == []

    def test_is_low_risk_and_realtime(self, accounts: DemoAccounts) -> None:
        tool = OrderStatusTool(accounts)
        assert (tool.risk, tool.realtime) == ("low", True)

    @pytest.mark.anyio
    async def test_results_carry_the_realtime_flag(self, accounts: DemoAccounts) -> None:
        registry = ToolRegistry([OrderStatusTool(accounts)])
        [result] = await run_tools_concurrently(
            registry, [ToolCall("order_status", {"order_id": "1003"}, "x")]
        )
        assert result.realtime is True

    @pytest.mark.anyio
    async def test_latency_is_applied(self, accounts: DemoAccounts) -> None:
        started = time.perf_counter()
        await OrderStatusTool(accounts, latency_s=0.1).run({"order_id": "1001"})
        assert time.perf_counter() - started >= 0.095


class TestUserProfileTool:
    @pytest.mark.anyio
    async def test_found_user_lists_profile_and_orders(self, accounts: DemoAccounts) -> None:
        output = await UserProfileTool(accounts).run({"user_id": "u-1001"})
        lines = output.content.splitlines()
        assert lines[0] == "User u-1001: Ada Lovelace"
        assert "Email: ada.lovelace@example.com" in lines
        assert "Plan: enterprise" in lines
        assert lines[-1] == "Orders: 1001 (processing), 1011 (delivered), 1021 (delivered)"
        assert [s.doc_id for s in output.sources] == ["user:u-1001"]

    @pytest.mark.anyio
    async def test_unknown_user_is_an_ok_not_found_output(self, accounts: DemoAccounts) -> None:
        output = await UserProfileTool(accounts).run({"user_id": "u-0000"})
        assert output.content == "User 'u-0000' was not found."
        assert output.sources == []

    def test_is_medium_risk_and_realtime(self, accounts: DemoAccounts) -> None:
        tool = UserProfileTool(accounts)
        assert (tool.risk, tool.realtime) == ("medium", True)
