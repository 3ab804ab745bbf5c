"""Train the semantic cache's pair judge (`agent.embedders.pair_judge`) and write its file.

    pip install torch==2.13.0 transformers==4.57.6   # offline wheels; not project dependencies
    python -m bench.train_pair_judge [--epochs 2] [--out agent/embedders/data/pair_judge.npz]
        [--save-model DIR] [--from-model DIR]

all-MiniLM-L6-v2 (the bundled checkpoint) with a one-logit classifier on its pooled [CLS] row,
trained with binary cross-entropy on every English pair of ``bench/data/semantic/dev_*.jsonl``
(never a ``heldout_*`` file), each pair in both orders, on the cache's view of each text (its
question, `cache.question_context.split_question` of the normalised text). The embeddings
stay frozen, so the file holds the six layers, the pooler and the classifier (int8 per output
row, ~10 MB). Settings, fixed before any held-out measurement of this script's output: 2
epochs, batch 32, AdamW at 3e-5 with weight decay 0.01, 10 % linear warm-up, gradient norm
clipped at 1, at most 96 tokens a pair, seed 0. About 15 minutes on two cores. Freezing layers
0-3 too (a 4 MB file) was tried: the judge barely learned. ``--save-model`` keeps the trained
model; ``--from-model`` exports one again without training.

The file also gets ``expected``: the float32 torch model's probabilities on a few dev pairs,
which the tests compare with `PairJudge`'s own numpy pass.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.embedders.minilm_weights import default_model_dir, load_raw
from agent.embedders.pair_judge import JUDGE_FILE, checkpoint_fingerprint, quantized
from cache.normalize import normalize_text
from cache.question_context import split_question

DATA = Path(__file__).resolve().parent / "data" / "semantic"
OUT = Path(__file__).resolve().parent.parent / "agent" / "embedders" / "data" / JUDGE_FILE
FROZEN_LAYERS = 0  # layers below this stay as the checkpoint has them
MAX_TOKENS = 96
EXPECTED_PAIRS = 24


def dev_pairs() -> list[tuple[str, str, float]]:
    """Every English dev pair as the cache reads it: (question a, question b, same)."""
    rows: list[tuple[str, str, float]] = []
    for path in sorted(DATA.glob("dev_*.jsonl")):
        if path.stem.endswith("_zh"):
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                pair = json.loads(line)
                a = split_question(normalize_text(pair["a"]))[1]
                b = split_question(normalize_text(pair["b"]))[1]
                rows.append((a, b, float(bool(pair["same"]))))
    return rows


def train(epochs: int) -> Any:
    import torch
    from transformers import (
        AutoTokenizer,
        BertForSequenceClassification,
        get_linear_schedule_with_warmup,
    )

    torch.manual_seed(0)
    rng = random.Random(0)
    model_dir = str(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    frozen = ("bert.embeddings", *(f"bert.encoder.layer.{i}." for i in range(FROZEN_LAYERS)))
    for name, parameter in model.named_parameters():
        if name.startswith(frozen):
            parameter.requires_grad_(False)
    rows = dev_pairs()
    examples = rows + [(b, a, y) for a, b, y in rows]
    batch = 32
    steps = epochs * math.ceil(len(examples) / batch)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-5, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    began = time.time()
    for epoch in range(epochs):
        rng.shuffle(examples)
        # Batches of similar length (sorted within windows of 50 batches), in random order.
        windows = [
            sorted(examples[i : i + batch * 50], key=lambda e: len(e[0]) + len(e[1]))
            for i in range(0, len(examples), batch * 50)
        ]
        batches = [w[i : i + batch] for w in windows for i in range(0, len(w), batch)]
        rng.shuffle(batches)
        for step, chunk in enumerate(batches):
            encoded = tokenizer(
                [a for a, _, _ in chunk],
                [b for _, b, _ in chunk],
                truncation=True,
                max_length=MAX_TOKENS,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**encoded).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([y for *_, y in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            if step % 200 == 0:
                print(
                    f"epoch {epoch} step {step} loss {loss.item():.3f} {time.time() - began:.0f} s"
                )
    model.eval()
    return model, tokenizer


def export(model: Any, tokenizer: Any, out: Path) -> None:
    import torch

    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    kept = {
        k.removeprefix("bert."): v
        for k, v in state.items()
        if k.startswith(tuple(f"bert.encoder.layer.{i}." for i in range(FROZEN_LAYERS, 6)))
        or k.startswith(("bert.pooler.", "classifier."))
    }
    rows = dev_pairs()
    sample = random.Random(1).sample(rows, EXPECTED_PAIRS)
    pairs = [(a, b) for a, b, _ in sample]
    with torch.no_grad():
        encoded = tokenizer(
            [a for a, _ in pairs],
            [b for _, b in pairs],
            truncation=True,
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )
        chances = torch.sigmoid(model(**encoded).logits.squeeze(-1)).numpy()
    expected = {"pairs": pairs, "probabilities": chances.tolist()}
    arrays: dict[str, Any] = dict(quantized(kept))
    arrays["fingerprint"] = np.asarray(checkpoint_fingerprint(load_raw(default_model_dir())))
    arrays["max_tokens"] = np.asarray(MAX_TOKENS)
    arrays["expected"] = np.asarray(json.dumps(expected))
    np.savez_compressed(out, allow_pickle=False, **arrays)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_pair_judge")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--from-model", type=Path, help="export an already trained model")
    parser.add_argument("--save-model", type=Path, help="also keep the trained model here")
    args = parser.parse_args()
    if args.from_model is not None:
        from transformers import (
            AutoTokenizer,
            BertForSequenceClassification,
        )

        model = BertForSequenceClassification.from_pretrained(str(args.from_model)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(args.from_model))
    else:
        model, tokenizer = train(args.epochs)
        if args.save_model is not None:
            model.save_pretrained(str(args.save_model))
            tokenizer.save_pretrained(str(args.save_model))
    export(model, tokenizer, args.out)


if __name__ == "__main__":
    main()
