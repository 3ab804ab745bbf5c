"""The pair judge's int8 onnxruntime pass, built at load like the embedder's
(`agent.embedders.minilm_onnx`): each dense layer's input range is measured by the float32
numpy pass on calibration pairs, `minilm_graph.build_pair_graph` writes the graph with int8
dense layers, and a self-check refuses it (`Int8Unusable`: the judge then stays on float32)
when its probabilities stray from float32's on any check pair by more than `MAX_DISAGREEMENT`.
Each pair runs on its own, so a pair's probability never depends on its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding

from agent.embedders.minilm_graph import (
    ATTENTION_MASK,
    INPUT_IDS,
    LOGITS,
    TOKEN_TYPE_IDS,
    PairHead,
    build_pair_graph,
)
from agent.embedders.minilm_onnx import Int8Unusable, measure_ranges, session_for
from agent.embedders.minilm_weights import MiniLMWeights

F32 = npt.NDArray[np.float32]
# The int8 probability may differ from float32's by this much on a check pair; measured 0.032
# at worst on the bundled judge's 16 check pairs (0.007 on average over 600 dev pairs).
MAX_DISAGREEMENT = 0.05
_CHECK_PAIRS = 16


class Int8PairPass:
    """``(new question, cached question)`` encodings to logits; thread-safe."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    @classmethod
    def build(
        cls,
        weights: MiniLMWeights,
        head: PairHead,
        calibration: Sequence[Encoding],
        float_logits: Callable[[Sequence[Encoding]], F32],
    ) -> Int8PairPass:
        """Measure ranges on *calibration*, build the graph, start a session, self-check
        against *float_logits*. Raises `Int8Unusable` when they disagree on this machine."""
        ranges = measure_ranges(
            weights, [e.ids for e in calibration], [e.type_ids for e in calibration]
        )
        int8 = cls(session_for(build_pair_graph(weights, head, ranges)))
        check = list(calibration[:: max(1, len(calibration) // _CHECK_PAIRS)])[:_CHECK_PAIRS]
        worst = float(np.max(np.abs(_chance(int8(check)) - _chance(float_logits(check)))))
        if worst > MAX_DISAGREEMENT:
            raise Int8Unusable(f"the int8 pair judge strays by {worst:.3f} from float32 here")
        return int8

    def __call__(self, encodings: Sequence[Encoding]) -> F32:
        out = np.empty(len(encodings), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids = np.asarray([encoding.ids], dtype=np.int64)
            feed = {
                INPUT_IDS: ids,
                TOKEN_TYPE_IDS: np.asarray([encoding.type_ids], dtype=np.int64),
                ATTENTION_MASK: np.ones(ids.shape, dtype=np.float32),
            }
            out[row] = self._session.run([LOGITS], feed)[0][0, 0]
        return out


def _chance(logits: F32) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-logits.astype(np.float64))))
