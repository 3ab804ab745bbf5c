"""The in-process simulated provider and the shared simulation core."""

from __future__ import annotations

import pytest

from agent.base import LLMClient
from agent.errors import BadRequest
from agent.simulated import SimulatedClient, tier_paces
from agent.simulation import Pace, compose_answer, paced, plan_answer, split_tokens
from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import LLMRequest, Message

QUESTION = "How do I reset my password?"


def request(model: str = "gpt-4o-mini", max_tokens: int | None = None) -> LLMRequest:
    return LLMRequest(
        model=model,
        system="You are Acme's support assistant.",
        messages=(Message("user", "hi"), Message("assistant", "Hello!"), Message("user", QUESTION)),
        max_tokens=max_tokens,
    )


class TestSimulation:
    def test_answer_is_deterministic_and_uses_the_kb(self) -> None:
        first = compose_answer(QUESTION, "gpt-4o-mini")
        assert first == compose_answer(QUESTION, "gpt-4o-mini")
        assert "Forgot password" in first

    def test_strong_model_answers_at_more_length(self) -> None:
        cheap = compose_answer(QUESTION, "gpt-4o-mini")
        strong = compose_answer(QUESTION, "gpt-4o")
        assert len(strong) > len(cheap) and "kb-account-001" in strong

    def test_unknown_question_gets_a_polite_generic_answer(self) -> None:
        assert "couldn't find" in compose_answer("Who won the 1998 World Cup?", "gpt-4o")

    def test_split_tokens_are_real_tokens_and_join_back(self) -> None:
        text = "Refunds take 5-10 days — naïve café ✓."
        pieces = split_tokens(text, "gpt-4o")
        assert "".join(pieces) == text
        assert len(pieces) <= count_text_tokens(text, "gpt-4o")

    def test_output_tokens_forces_length_and_max_tokens_cuts(self) -> None:
        messages = [Message("user", QUESTION)]
        forced = plan_answer(messages, "gpt-4o", output_tokens=300)
        assert (forced.completion_tokens, forced.finish_reason) == (300, "stop")
        cut = plan_answer(messages, "gpt-4o", max_tokens=7, output_tokens=300)
        assert (cut.completion_tokens, cut.finish_reason) == (7, "length")

    @pytest.mark.anyio
    async def test_paced_respects_ttft_and_rate(self) -> None:
        import anyio

        start = anyio.current_time()
        pieces = [piece async for piece in paced(["a"] * 21, Pace(ttft_s=0.1, tokens_per_s=200))]
        elapsed = anyio.current_time() - start
        assert len(pieces) == 21
        assert 0.19 <= elapsed < 1.5  # 0.1 s + 20 intervals of 5 ms


class TestSimulatedClient:
    def test_is_an_llm_client(self) -> None:
        assert isinstance(SimulatedClient(), LLMClient)
        assert SimulatedClient().name == "simulated"

    @pytest.mark.anyio
    async def test_generate_reports_real_usage(self) -> None:
        client = SimulatedClient(default=Pace())
        req = request()
        response = await client.generate(req)
        assert response.simulated and response.provider == "simulated"
        assert response.finish_reason == "stop" and "Forgot password" in response.text
        expected_prompt = count_message_tokens(req.messages, req.model, system=req.system)
        assert response.usage.prompt == expected_prompt
        assert response.usage.completion == count_text_tokens(response.text, req.model)

    @pytest.mark.anyio
    async def test_stream_yields_text_then_usage(self) -> None:
        client = SimulatedClient(default=Pace())
        chunks = [chunk async for chunk in client.stream(request())]
        text_chunks, final = chunks[:-1], chunks[-1]
        assert all(chunk.simulated for chunk in chunks)
        assert len(text_chunks) > 10 and all(chunk.text for chunk in text_chunks)
        assert text_chunks[-1].finish_reason == "stop"
        assert final.text == "" and final.usage is not None
        assert final.usage.completion == len(text_chunks)
        full = await client.generate(request())
        assert "".join(chunk.text for chunk in text_chunks) == full.text

    @pytest.mark.anyio
    async def test_max_tokens_truncates_with_length(self) -> None:
        client = SimulatedClient(default=Pace())
        response = await client.generate(request(max_tokens=5))
        assert response.finish_reason == "length" and response.usage.completion == 5
        chunks = [chunk async for chunk in client.stream(request(max_tokens=5))]
        assert len(chunks) == 6 and chunks[-2].finish_reason == "length"
        with pytest.raises(BadRequest):
            await client.generate(request(max_tokens=0))

    @pytest.mark.anyio
    async def test_cheap_model_streams_faster_than_strong(self) -> None:
        import anyio

        paces = {"cheap": Pace(0.0, 2000.0), "strong": Pace(0.05, 400.0)}
        client = SimulatedClient(paces)
        timings = {}
        for model in paces:
            await client.generate(request(model=model, max_tokens=1))  # load the tokenizer
        for model in paces:
            start = anyio.current_time()
            await client.generate(request(model=model, max_tokens=30))
            timings[model] = anyio.current_time() - start
        assert timings["cheap"] < timings["strong"]
        defaults = tier_paces("gpt-4o-mini", "gpt-4o")
        assert defaults["gpt-4o-mini"].tokens_per_s > defaults["gpt-4o"].tokens_per_s
