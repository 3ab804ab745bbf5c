"""CircuitBreaker state machine, driven by a manual clock."""

from __future__ import annotations

import anyio
import pytest

from agent.breaker import BreakerState, CircuitBreaker, ModelBreakers, counts_as_failure
from agent.errors import AuthError, BadRequest, CircuitOpen, RateLimited, UpstreamError
from agent.testing import ManualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def _fail(breaker: CircuitBreaker, error: Exception | None = None) -> None:
    with pytest.raises(type(error or UpstreamError("x"))), breaker.guard():
        raise error or UpstreamError("503", status=503)


def _succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard():
        pass


class TestCircuitBreaker:
    def test_rejects_nonsense(self) -> None:
        with pytest.raises(ValueError):
            CircuitBreaker(0, 1.0)
        with pytest.raises(ValueError):
            CircuitBreaker(1, -1.0)

    def test_opens_after_threshold_consecutive_failures(self) -> None:
        breaker = CircuitBreaker(3, 10.0, ManualClock())
        _fail(breaker)
        _fail(breaker)
        assert breaker.state is CLOSED
        _fail(breaker)
        assert breaker.state is OPEN
        assert breaker.transitions == {(CLOSED, OPEN): 1}

    def test_success_resets_the_count(self) -> None:
        breaker = CircuitBreaker(2, 10.0, ManualClock())
        _fail(breaker)
        _succeed(breaker)
        _fail(breaker)
        assert breaker.state is CLOSED
        assert breaker.consecutive_failures == 1

    def test_caller_and_auth_errors_do_not_count(self) -> None:
        breaker = CircuitBreaker(1, 10.0, ManualClock())
        _fail(breaker, BadRequest("400", status=400))
        _fail(breaker, AuthError("401", status=401))
        assert breaker.state is CLOSED
        assert breaker.consecutive_failures == 0

    def test_open_refuses_without_running_the_call(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 10.0, clock, name="openai")
        _fail(breaker)
        ran = False
        with pytest.raises(CircuitOpen) as caught, breaker.guard():
            ran = True
        assert not ran
        assert caught.value.provider == "openai"
        assert breaker.rejected == 1

    def test_half_open_after_cooldown_and_probe_success_closes(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 10.0, clock)
        _fail(breaker)
        clock.advance(9.9)
        assert breaker.state is OPEN
        clock.advance(0.1)
        assert breaker.state is HALF_OPEN
        _succeed(breaker)
        assert breaker.state is CLOSED
        assert breaker.transitions == {
            (CLOSED, OPEN): 1,
            (OPEN, HALF_OPEN): 1,
            (HALF_OPEN, CLOSED): 1,
        }

    def test_probe_failure_reopens_for_a_new_cooldown(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 10.0, clock)
        _fail(breaker)
        clock.advance(15.0)
        _fail(breaker)
        assert breaker.state is OPEN
        clock.advance(9.0)
        assert breaker.state is OPEN
        clock.advance(1.0)
        assert breaker.state is HALF_OPEN
        assert breaker.transitions[(HALF_OPEN, OPEN)] == 1

    def test_only_one_probe_at_a_time(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 1.0, clock)
        _fail(breaker)
        clock.advance(1.0)
        # The outer guard is the probe; a concurrent caller during it is refused.
        with breaker.guard(), pytest.raises(CircuitOpen, match="probe"), breaker.guard():
            pytest.fail("second caller admitted during the probe")
        assert breaker.state is CLOSED

    @pytest.mark.anyio
    async def test_cancelled_probe_frees_the_slot_without_closing(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 1.0, clock)
        _fail(breaker)
        clock.advance(1.0)
        with anyio.move_on_after(0.01), breaker.guard():
            await anyio.sleep(5)
        assert breaker.state is HALF_OPEN
        _succeed(breaker)  # a new probe is admitted
        assert breaker.state is CLOSED

    def test_recorded_failure_counts_like_a_guarded_one(self) -> None:
        breaker = CircuitBreaker(2, 1.0, ManualClock())
        breaker.record_failure()
        _fail(breaker)
        assert breaker.state is OPEN


def test_our_own_throttling_is_not_provider_trouble() -> None:
    assert counts_as_failure(RateLimited("provider said 429", status=429))
    assert not counts_as_failure(RateLimited("waited too long for our limiter", status=None))


class TestModelBreakers:
    def test_each_model_has_its_own_breaker(self) -> None:
        breakers = ModelBreakers(failure_threshold=1, cooldown_s=60)
        breakers.for_model("a").record_failure()
        assert breakers.for_model("a").state is BreakerState.OPEN
        assert breakers.for_model("b").state is BreakerState.CLOSED

    def test_models_past_the_bound_share_one_breaker(self) -> None:
        breakers = ModelBreakers(failure_threshold=1, cooldown_s=60, max_models=2)
        breakers.for_model("a")
        breakers.for_model("b")
        assert breakers.for_model("c") is breakers.for_model("d")
        assert len(breakers.states()) == 3
