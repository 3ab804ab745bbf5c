"""Build the semantic-cache evaluation pair sets in ``bench/data/semantic/`` from the public
datasets in ``../shared/datasets`` (licences in ``bench/data/semantic/SOURCES.md``).

    python -m bench.semantic_sets [--datasets DIR] [--per-set N]

Every set comes in two halves: ``dev_*`` (used while developing guards and choosing defaults)
and ``heldout_*`` (only ever measured, never tuned on). Splits are fixed by a hash of the pair,
or by the dataset's own train/test split, so rebuilding gives the same files.

* ``sts``: STS Benchmark English train pairs; ``same`` when the human score is >= 4.0.
* ``clinc`` / ``banking``: for sampled queries, the nearest other query of the same intent
  (``same``: a rough label, intents are coarser than answers) and the nearest query of a
  different intent (a hard negative: a different answer, whatever its cosine). Neighbours are
  found with the packaged MiniLM; CLINC out-of-scope queries pair with their nearest in-scope one.
* ``zh``: Chinese STS-B pairs (``same`` when the score is >= 4): the default English embedder
  must refuse them all.
The hand-written ``*_adversarial.jsonl`` files are not built here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "data" / "semantic"
_SEED = 17


def _held_out(*texts: str) -> bool:
    digest = hashlib.blake2b("\x1f".join(texts).encode(), digest_size=4).digest()
    return digest[0] % 2 == 1


def _write(name: str, rows: Sequence[dict[str, object]]) -> None:
    with (OUT / name).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} pairs, {sum(bool(r['same']) for r in rows)} same")


def _sts(datasets: Path, per_set: int) -> None:
    halves: dict[bool, list[dict[str, object]]] = {False: [], True: []}
    with (datasets / "stsb_en_train.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            a, b, score = row["sentence1"], row["sentence2"], float(row["score"])
            pair = {"a": a, "b": b, "same": score >= 4.0, "source": f"stsb:{score:.2f}"}
            halves[_held_out(a, b)].append(pair)
    for held, rows in halves.items():
        random.Random(_SEED).shuffle(rows)
        _write(f"{'heldout' if held else 'dev'}_sts.jsonl", rows[:per_set])
    zh: dict[bool, list[dict[str, object]]] = {False: [], True: []}
    for line in (datasets / "stsb_zh_train.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        a, b, score = item["text_a"], item["text_b"], int(item["score"])
        zh[_held_out(a, b)].append(
            {"a": a, "b": b, "same": score >= 4, "source": f"stsb-zh:{score}"}
        )
    random.Random(_SEED).shuffle(zh[True])
    _write("heldout_zh.jsonl", zh[True][:per_set])


def _mined(name: str, labelled: list[tuple[str, str]], per_set: int) -> list[dict[str, object]]:
    from agent.embedders.minilm_model import MiniLMModel

    texts = sorted({t for t, _ in labelled})
    intent = dict(labelled)
    vectors = MiniLMModel.load().embed(texts)
    rng = random.Random(_SEED)
    rows: list[dict[str, object]] = []
    for i in rng.sample(range(len(texts)), min(per_set // 2, len(texts))):
        scores = vectors @ vectors[i]
        scores[i] = -2.0
        same = np.array([intent[t] == intent[texts[i]] for t in texts])
        for want in (True, False):
            pool = np.where(same == want, scores, -2.0)
            j = int(np.argmax(pool))
            if pool[j] <= -2.0:
                continue
            if intent[texts[i]] == "oos" and want:
                continue  # out-of-scope queries share no answer with each other
            rows.append(
                {
                    "a": texts[i],
                    "b": texts[j],
                    "same": want and intent[texts[i]] != "oos",
                    "source": f"{name}:{intent[texts[i]]}/{intent[texts[j]]}",
                }
            )
    return rows


def _intents(datasets: Path, per_set: int) -> None:
    data = json.loads((datasets / "clinc150_data_full.json").read_text(encoding="utf-8"))
    for half, splits in (("dev", ("train", "oos_train")), ("heldout", ("test", "oos_test"))):
        labelled = [(t, "oos" if s.startswith("oos") else i) for s in splits for t, i in data[s]]
        _write(f"{half}_clinc.jsonl", _mined("clinc", labelled, per_set))
    for half, split in (("dev", "train"), ("heldout", "test")):
        with (datasets / f"banking77_{split}.csv").open(encoding="utf-8") as f:
            labelled = [(r["text"], r["category"]) for r in csv.DictReader(f)]
        _write(f"{half}_banking.jsonl", _mined("banking77", labelled, per_set))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--per-set", type=int, default=1500)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    _sts(args.datasets, args.per_set)
    _intents(args.datasets, args.per_set)


if __name__ == "__main__":
    main()
