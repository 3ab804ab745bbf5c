"""The detectors and rules against the hand-labelled set of `bench.guard_samples` (the
numbers `python -m bench guard` prints): regressions in precision or recall fail here."""

from __future__ import annotations

from agent.guard import KINDS, InjectionScanner, Redactor, build_detectors
from bench.bench_guard import score
from bench.guard_samples import BENIGN, INJECTIONS, PII_SAMPLES


def test_detector_precision_and_recall() -> None:
    tp, fp, fn = score(PII_SAMPLES, Redactor(build_detectors(KINDS, phone_regions=("US",))))
    hits, false, missed = sum(tp.values()), sum(fp.values()), sum(fn.values())
    assert hits / (hits + false) >= 0.97
    assert hits / (hits + missed) >= 0.95


def test_injection_rules_raise_no_false_alarms() -> None:
    scanner = InjectionScanner()
    assert [t for t in BENIGN if scanner.scan(t)] == []
    assert sum(bool(scanner.scan(t)) for t in INJECTIONS) >= 16
