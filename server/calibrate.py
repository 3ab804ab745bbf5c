"""``frugal calibrate`` with the packaged MiniLM embedder.

The measurement lives in `cache.calibrate`; the cache sits below the agent and cannot pick one
of its embedders, so the command that chooses the model is wired here, with the rest of the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

from cache.calibrate import main as calibrate_main


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``frugal calibrate``; returns the process exit status."""
    from agent.embedders import MiniLMEmbedder  # tokenizer and weights load only when run

    return calibrate_main(argv, load_embedder=MiniLMEmbedder.load)
