"""How precise are the guard's detectors and injection rules, and what do they cost?

Scores `bench.guard_samples` (hand-labelled): a detected value counts as a true positive when
it is exactly a labelled value of the same kind. Prints precision and recall per kind, the
false positives among random reference numbers, the injection rules' precision and recall,
and the time to redact one support message. ``python -m bench guard``.
"""

from __future__ import annotations

import time
from collections import Counter

from agent.guard import KINDS, InjectionScanner, Redactor, Vault, build_detectors
from bench.guard_samples import BENIGN, INJECTIONS, PII_SAMPLES, reference_numbers

MESSAGE = (
    "Hi, I ordered a desk last week (order 12345678) and it has not arrived. My email is "
    "jane.roe@example.com and you can call me on +1 415-555-2671. Can you check the status "
    "and refund my card if it is lost? Thanks, Jane"
)


def score(
    samples: tuple[tuple[str, dict[str, tuple[str, ...]]], ...], redactor: Redactor
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for text, labels in samples:
        expected = {(kind, value) for kind, values in labels.items() for value in values}
        found = {(s.kind, text[s.start : s.end]) for s in redactor.spans(text)}
        for kind, _ in found & expected:
            tp[kind] += 1
        for kind, _ in found - expected:
            fp[kind] += 1
        for kind, _ in expected - found:
            fn[kind] += 1
    return tp, fp, fn


def main() -> None:
    redactor = Redactor(build_detectors(KINDS, phone_regions=("US",)))
    tp, fp, fn = score(PII_SAMPLES, redactor)
    print(f"{len(PII_SAMPLES)} labelled sentences, {sum((tp + fn).values())} labelled values")
    print(f"{'kind':<12} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>10} {'recall':>8}")
    for kind in (*KINDS, "all"):
        t = sum(tp.values()) if kind == "all" else tp[kind]
        f = sum(fp.values()) if kind == "all" else fp[kind]
        n = sum(fn.values()) if kind == "all" else fn[kind]
        precision = t / (t + f) if t + f else 1.0
        recall = t / (t + n) if t + n else 1.0
        print(f"{kind:<12} {t:>4} {f:>4} {n:>4} {precision:>10.3f} {recall:>8.3f}")
    refs = reference_numbers()
    _, ref_fp, _ = score(refs, redactor)
    print(
        f"random reference numbers: {len(refs)} texts, false positives {dict(ref_fp) or 0} "
        "(a checksum passes ~1 in 10 random numbers)"
    )
    scanner = InjectionScanner()
    hits = sum(bool(scanner.scan(t)) for t in INJECTIONS)
    false = sum(bool(scanner.scan(t)) for t in BENIGN)
    print(
        f"injection: {len(INJECTIONS)} attacks, {len(BENIGN)} benign; flagged {hits} attacks "
        f"(recall {hits / len(INJECTIONS):.2f}) and {false} benign "
        f"(precision {hits / (hits + false) if hits + false else 1.0:.2f})"
    )
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        redactor.redact(MESSAGE, Vault(), Counter())
    per = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        scanner.scan(MESSAGE)
    scan = (time.perf_counter() - started) / rounds * 1e6
    print(f"redact one {len(MESSAGE)}-char message: {per:.0f} us; injection scan: {scan:.0f} us")


if __name__ == "__main__":
    main()
