"""The bundled pair judge: its numpy pass against the trained torch model, and what it decides."""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from agent.embedders.pair_judge import (
    JUDGE_FILE,
    JudgeUnusable,
    PairJudge,
    ThreadedPairJudge,
    shared_pair_judge,
)
from cache.errors import EmbeddingError


def _bundled() -> np.lib.npyio.NpzFile:
    data = resources.files("agent.embedders").joinpath("data", JUDGE_FILE).read_bytes()
    return np.load(io.BytesIO(data))


@pytest.fixture(scope="module")
def judge() -> PairJudge:
    return shared_pair_judge()  # int8 where it agrees with float32, as served


@pytest.fixture(scope="module")
def float_judge() -> PairJudge:
    return shared_pair_judge("float32")


def _expected() -> tuple[list[tuple[str, str]], npt.NDArray[np.float32]]:
    expected = json.loads(str(_bundled()["expected"]))
    pairs = [(a, b) for a, b in expected["pairs"]]
    return pairs, np.asarray(expected["probabilities"], dtype=np.float32)


def test_matches_the_trained_model_on_the_pairs_recorded_at_export(
    float_judge: PairJudge,
) -> None:
    # `bench.train_pair_judge` kept the float32 torch model's answers on a few dev pairs; the
    # numpy pass over the int8-stored weights must give the same verdicts and nearly the same
    # probabilities.
    pairs, want = _expected()
    got = np.asarray(float_judge.probabilities(pairs), dtype=np.float32)
    assert float_judge.runtime == "float32"
    assert np.max(np.abs(got - want)) < 0.03
    clear = np.abs(want - 0.5) > 0.05
    assert ((got >= 0.5) == (want >= 0.5))[clear].all()


def test_the_int8_pass_agrees_with_float32(judge: PairJudge, float_judge: PairJudge) -> None:
    assert judge.runtime == "int8"
    pairs, _ = _expected()
    fast = np.asarray(judge.probabilities(pairs), dtype=np.float32)
    exact = np.asarray(float_judge.probabilities(pairs), dtype=np.float32)
    # Measured on 600 dev pairs: 0.007 apart on average, 0.12 at worst, 4 verdicts of 600
    # flipped (all within 0.1 of 0.5).
    assert np.mean(np.abs(fast - exact)) < 0.02
    clear = np.abs(exact - 0.5) > 0.12
    assert ((fast >= 0.5) == (exact >= 0.5))[clear].all()


def test_either_reading_order_gives_the_same_verdict(judge: PairJudge) -> None:
    # Trained on both orders; the cache reads (new question, cached question).
    a, b = "how do I reset my password", "I forgot my password, how can I change it"
    one, other = judge.probabilities([(a, b), (b, a)])
    assert one is not None and other is not None and (one >= 0.5) == (other >= 0.5)
    swap = ("convert Celsius to Fahrenheit", "convert Fahrenheit to Celsius")
    assert all(p is not None and p < 0.5 for p in judge.probabilities([swap, swap[::-1]]))


def test_a_pair_scores_the_same_alone_and_in_a_batch(judge: PairJudge) -> None:
    pair = ("what is the capital of France", "which city is the capital of France")
    others = [("how tall is mount everest", "how high is mount everest")] * 5
    alone = judge.probabilities([pair])[0]
    batched = judge.probabilities([*others, pair])[-1]
    assert alone == pytest.approx(batched, abs=1e-5)


@pytest.mark.parametrize(
    ("new", "cached", "same"),
    [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("What is the best way to learn Spanish?", "How can I learn Spanish quickly?", True),
        ("convert Celsius to Fahrenheit", "convert Fahrenheit to Celsius", False),
        ("move money from savings to checking", "move money from checking to savings", False),
        (
            "Can I bring a power bank in my checked luggage?",
            "Can I bring a power bank in my carry on luggage?",
            False,
        ),
    ],
)
def test_reads_paraphrases_and_swaps(judge: PairJudge, new: str, cached: str, same: bool) -> None:
    [chance] = judge.probabilities([(new, cached)])
    assert chance is not None and (chance >= 0.5) is same


def test_abstains_on_what_its_vocabulary_cannot_read(judge: PairJudge) -> None:
    # With a multilingual embedder, Chinese questions reach the cache; the English judge sees
    # mostly [UNK] and leaves them to the threshold and the guards.
    chinese = [("如何重置密码", "怎么重置密码"), ("reset my password", "如何重置密码")]
    answers = judge.probabilities(chinese)
    assert answers == [None, None]
    assert judge.probabilities([]) == []


def test_refuses_a_file_trained_on_another_checkpoint(tmp_path: Path) -> None:
    arrays = {key: _bundled()[key] for key in _bundled().files}
    arrays["fingerprint"] = np.asarray("0" * 64)
    other = tmp_path / "judge.npz"
    np.savez(other, allow_pickle=False, **arrays)
    with pytest.raises(JudgeUnusable):
        PairJudge.load(judge_file=other, runtime="float32")


@pytest.mark.anyio
async def test_threaded_judge_answers_floats_and_wraps_failures(judge: PairJudge) -> None:
    async with ThreadedPairJudge(judge) as threaded:
        [chance] = await threaded.probabilities([("where is my parcel", "where is my package")])
        assert isinstance(chance, float) and 0.0 <= chance <= 1.0
        assert threaded.name == judge.name
        assert await threaded.probabilities([]) == []

    class Broken(PairJudge):
        def __init__(self) -> None:
            self.name = "broken"

        def probabilities(self, pairs: object) -> list[float | None]:  # type: ignore[override]
            raise ValueError("no weights")

    async with ThreadedPairJudge(Broken()) as broken:
        with pytest.raises(EmbeddingError, match="no weights"):
            await broken.probabilities([("a", "b")])
    with pytest.raises(EmbeddingError, match="not running"):  # used outside its block
        await ThreadedPairJudge(judge).probabilities([("a", "b")])
