"""What the semantic cache's guards cost per compared pair (``python -m bench semantic_guards``).

A lookup runs `cache.guards.differences` on each candidate at or above the threshold. A new
query's features are computed once and cached (4,096 queries); a stored question's are cached
from its earlier comparisons. Measured on 3,000 pairs of new template questions (the end-to-end
bench's, `bench.bench_semantic_backends.unique_questions`), with the features computed (no
cache) and then again with them cached (1,000 pairs, inside the cache). Run it in two checkouts
to compare commits: the numbers move with the machine.
"""

from __future__ import annotations

import time

from bench.bench_semantic_backends import unique_questions
from cache.guards import differences, load_lexicons


def per_pair_us(pairs: list[tuple[str, str]]) -> float:
    began = time.perf_counter()
    for a, b in pairs:
        differences(a, b)
    return (time.perf_counter() - began) / len(pairs) * 1e6


def main() -> None:
    load_lexicons()
    questions = unique_questions(8000, seed=5)
    new = list(zip(questions[:6000:2], questions[1:6000:2], strict=True))
    known = list(zip(questions[6000::2], questions[6001::2], strict=True))
    per_pair_us(known)  # computes and caches these 2,000 questions' features
    cached = per_pair_us(known)
    print(f"new questions:    {per_pair_us(new):6.0f} us per compared pair")
    print(f"cached features:  {cached:6.0f} us per compared pair")


if __name__ == "__main__":
    main()
