"""The concurrent tool fan-out: deadlines, isolation of failures, order, policy, cancellation."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from agent.tools import (
    DemoAccounts,
    OrderStatusTool,
    RiskLevel,
    Tool,
    ToolCall,
    ToolOutput,
    ToolRegistry,
    UserProfileTool,
    check_arguments,
    run_tools_concurrently,
)


class SleepyTool:
    """Sleeps, then answers; records whether it finished or was cancelled."""

    description = "sleeps then echoes"
    parameters: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012
    risk: RiskLevel = "low"
    realtime = False

    def __init__(self, name: str, sleep_s: float, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self.sleep_s = sleep_s
        self.timeout_s = timeout_s
        self.ended: str = "pending"

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        try:
            await anyio.sleep(self.sleep_s)
        except anyio.get_cancelled_exc_class():
            self.ended = "cancelled"
            raise
        self.ended = "finished"
        return ToolOutput(content=f"{self.name} done")


class BrokenTool:
    """Fails after a short sleep, like an upstream error."""

    name = "broken"
    description = "always fails"
    parameters: dict[str, Any] = {"type": "object"}  # noqa: RUF012
    timeout_s = 5.0
    risk: RiskLevel = "low"
    realtime = False

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        await anyio.sleep(0.05)
        raise RuntimeError("backend exploded")


class MaskingTool:
    """Turns its cancellation into an ordinary error, as some client libraries do."""

    name = "masking"
    description = "hides cancellation"
    parameters: dict[str, Any] = {"type": "object"}  # noqa: RUF012
    timeout_s = 0.05
    risk: RiskLevel = "low"
    realtime = False

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            raise ConnectionError("connection closed") from None
        return ToolOutput(content="unreachable")


@pytest.fixture(scope="module")
def accounts() -> DemoAccounts:
    return DemoAccounts.load_default()


def call(name: str, call_id: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, args=args, call_id=call_id)


class TestConcurrency:
    @pytest.mark.anyio
    async def test_three_calls_take_as_long_as_the_slowest(self, accounts: DemoAccounts) -> None:
        registry = ToolRegistry(
            [
                OrderStatusTool(accounts, latency_s=0.2),
                UserProfileTool(accounts, latency_s=0.3),
                SleepyTool("sleepy", 0.15),
            ],
            allowed_risky=["user_profile"],
        )
        calls = [
            call("order_status", "a", order_id="1001"),
            call("user_profile", "b", user_id="u-1002"),
            call("sleepy", "c"),
        ]
        started = time.perf_counter()
        results = await run_tools_concurrently(registry, calls)
        elapsed = time.perf_counter() - started

        assert 0.29 <= elapsed < 0.55  # ~300 ms, not the 650 ms of running them in turn
        assert [r.call_id for r in results] == ["a", "b", "c"]
        assert all(r.ok for r in results)
        assert results[0].output is not None and "Order 1001" in results[0].output.content
        assert 195 <= results[0].elapsed_ms < 550
        assert 295 <= results[1].elapsed_ms < 550
        assert all(r.realtime for r in results[:2]) and not results[2].realtime

    @pytest.mark.anyio
    async def test_failure_and_timeout_neither_cancel_nor_delay_others(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        fast = SleepyTool("fast", 0.2)
        hung = SleepyTool("hung", 5.0, timeout_s=0.1)
        registry = ToolRegistry([fast, hung, BrokenTool()])
        calls = [call("hung", "1"), call("broken", "2"), call("fast", "3")]

        caplog.set_level(logging.WARNING, logger="agent.tools.fanout")
        started = time.perf_counter()
        results = await run_tools_concurrently(registry, calls)
        elapsed = time.perf_counter() - started

        assert elapsed < 0.55  # bounded by the fast tool (0.2 s), not the 5 s sleeper
        assert [r.name for r in results] == ["hung", "broken", "fast"]
        timed_out, broken, ok = results
        assert not timed_out.ok and timed_out.error == "timeout after 0.1 s"
        assert timed_out.output is None and 95 <= timed_out.elapsed_ms < 450
        assert hung.ended == "cancelled"
        assert not broken.ok and broken.error == "RuntimeError: backend exploded"
        assert ok.ok and ok.output == ToolOutput(content="fast done")
        assert fast.ended == "finished"
        failures = [rec for rec in caplog.records if rec.name == "agent.tools.fanout"]
        assert len(failures) == 2  # one line per failed call
        assert sum(rec.exc_info is not None for rec in failures) == 1  # traceback for the bug

    @pytest.mark.anyio
    async def test_timeout_masked_as_an_error_is_still_reported_as_timeout(self) -> None:
        [result] = await run_tools_concurrently(
            ToolRegistry([MaskingTool()]), [call("masking", "m")]
        )
        assert (result.ok, result.error) == (False, "timeout after 0.05 s")

    @pytest.mark.anyio
    async def test_caller_cancellation_cancels_every_tool_promptly(self) -> None:
        tools = [SleepyTool(f"t{i}", 5.0) for i in range(3)]
        registry = ToolRegistry(tools)
        calls = [call(tool.name, str(i)) for i, tool in enumerate(tools)]

        started = time.perf_counter()
        with anyio.move_on_after(0.1) as scope:
            await run_tools_concurrently(registry, calls)
            pytest.fail("cancellation was swallowed")
        elapsed = time.perf_counter() - started

        assert scope.cancelled_caught
        assert elapsed < 1.0
        assert [tool.ended for tool in tools] == ["cancelled"] * 3

    @pytest.mark.anyio
    async def test_no_calls_gives_no_results(self) -> None:
        assert await run_tools_concurrently(ToolRegistry([]), []) == []


class TestPolicy:
    @pytest.mark.anyio
    async def test_unknown_tool_is_reported_without_running_anything(
        self, accounts: DemoAccounts
    ) -> None:
        registry = ToolRegistry([OrderStatusTool(accounts)])
        results = await run_tools_concurrently(
            registry, [call("weather", "w", city="Oslo"), call("order_status", "o", order_id="1")]
        )
        unknown = results[0]
        assert (unknown.ok, unknown.error, unknown.name) == (False, "unknown_tool", "weather")
        assert results[1].ok

    @pytest.mark.anyio
    async def test_medium_risk_tool_needs_the_allow_list(self, accounts: DemoAccounts) -> None:
        profile = UserProfileTool(accounts)
        denied = await run_tools_concurrently(
            ToolRegistry([profile]), [call("user_profile", "p", user_id="u-1001")]
        )
        assert (denied[0].ok, denied[0].error, denied[0].output) == (False, "not_allowed", None)

        allowed = await run_tools_concurrently(
            ToolRegistry([profile], allowed_risky={"user_profile"}),
            [call("user_profile", "p", user_id="u-1001")],
        )
        assert allowed[0].ok and allowed[0].output is not None
        assert "Ada Lovelace" in allowed[0].output.content

    def test_schemas_list_only_tools_that_may_run(self, accounts: DemoAccounts) -> None:
        tools: list[Tool] = [OrderStatusTool(accounts), UserProfileTool(accounts)]
        names = [s["function"]["name"] for s in ToolRegistry(tools).schemas()]
        assert names == ["order_status"]
        allowed = ToolRegistry(tools, allowed_risky=["user_profile"]).schemas()
        assert [s["function"]["name"] for s in allowed] == ["order_status", "user_profile"]
        assert allowed[0]["function"]["parameters"]["required"] == ["order_id"]

    def test_duplicate_tool_names_are_rejected(self, accounts: DemoAccounts) -> None:
        with pytest.raises(ValueError, match="duplicate"):
            ToolRegistry([OrderStatusTool(accounts), OrderStatusTool(accounts)])

    @pytest.mark.anyio
    async def test_invalid_arguments_are_reported_not_run(self, accounts: DemoAccounts) -> None:
        registry = ToolRegistry([OrderStatusTool(accounts)])
        results = await run_tools_concurrently(
            registry,
            [
                call("order_status", "missing"),
                call("order_status", "wrong-type", order_id=1001),
                call("order_status", "extra", order_id="1001", verbose=True),
            ],
        )
        assert [r.error for r in results] == [
            "invalid_arguments: missing 'order_id'",
            "invalid_arguments: 'order_id' must be string",
            "invalid_arguments: unexpected 'verbose'",
        ]


class TestCheckArguments:
    SCHEMA: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": ["number", "null"]},
        },
        "required": ["query"],
    }

    @pytest.mark.parametrize(
        ("args", "problem"),
        [
            ({"query": "x"}, None),
            ({"query": "x", "top_k": 10, "ratio": 0.5, "extra": 1}, None),
            ({"query": "x", "ratio": None}, None),
            ({"query": "x", "ratio": 2}, None),
            ({"query": "x", "top_k": True}, "'top_k' must be integer"),
            ({"query": "x", "top_k": 2.5}, "'top_k' must be integer"),
            ({"query": "x", "top_k": 11}, "'top_k' must be <= 10"),
            ({"query": "x", "top_k": 0}, "'top_k' must be >= 1"),
            ({"query": "x", "ratio": "1"}, "'ratio' must be number or null"),
            ({}, "missing 'query'"),
            (["query"], "arguments must be an object"),
        ],
    )
    def test_basic_schema_rules(self, args: object, problem: str | None) -> None:
        assert check_arguments(self.SCHEMA, args) == problem
