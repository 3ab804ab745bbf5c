"""What the semantic cache's guards cost per compared pair (``python -m bench semantic_guards``).

A lookup runs `cache.guards.differences` on each candidate at or above the threshold. A new
query's features are computed once and cached (4,096 queries); a stored question's are cached
from its earlier comparisons. Measured on 3,000 pairs of new template questions (the end-to-end
bench's, `bench.bench_semantic_backends.unique_questions`), with the features computed (no
cache) and then again with them cached (1,000 pairs, inside the cache). Run it in two checkouts
to compare commits: the numbers move with the machine. A lookup asks for the first kind only
(`differences(..., first=True)`, the same verdict), measured on other new pairs.
"""

from __future__ import annotations

import time

from bench.bench_semantic_backends import unique_questions
from cache.guards import differences, load_lexicons


def per_pair_us(pairs: list[tuple[str, str]], *, first: bool = False) -> float:
    began = time.perf_counter()
    for a, b in pairs:
        differences(a, b, first=first)
    return (time.perf_counter() - began) / len(pairs) * 1e6


def main() -> None:
    load_lexicons()
    questions = unique_questions(14000, seed=5)
    new = list(zip(questions[:6000:2], questions[1:6000:2], strict=True))
    new_first = list(zip(questions[6000:12000:2], questions[6001:12000:2], strict=True))
    known = list(zip(questions[12000::2], questions[12001::2], strict=True))
    per_pair_us(known)  # computes and caches these 2,000 questions' features
    cached = per_pair_us(known)
    cached_first = per_pair_us(known, first=True)
    print(f"new questions:    {per_pair_us(new):6.0f} us per compared pair, every kind")
    print(f"cached features:  {cached:6.0f} us per compared pair, every kind")
    # What a lookup asks (`AcceptRule.judge`): the first kind only, the same verdict.
    print(f"new questions:    {per_pair_us(new_first, first=True):6.0f} us, first kind only")
    print(f"cached features:  {cached_first:6.0f} us, first kind only")


if __name__ == "__main__":
    main()
