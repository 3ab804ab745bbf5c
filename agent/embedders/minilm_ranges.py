"""Re-measure the int8 MiniLM's bundled activation ranges.

``python -m agent.embedders.minilm_ranges``.

Run it after changing ``data/activation_texts.txt`` or the bundled checkpoint; a test checks
that the committed file is what the texts measure.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.embedders.minilm_model import MiniLMModel
from agent.embedders.minilm_onnx import RANGES_FILE, activation_texts, write_ranges


def main() -> None:
    """Measure with the float32 pass and overwrite the bundled file."""
    model = MiniLMModel.load(runtime="float32")
    target = Path(__file__).parent / "data" / RANGES_FILE
    write_ranges(model.weights, model.token_ids(activation_texts()), target)
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
