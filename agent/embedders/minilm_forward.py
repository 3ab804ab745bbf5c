"""The all-MiniLM-L6-v2 forward pass in numpy float32: BERT encoder, mean pooling, L2 norm.

Written for small batches of short texts on one core. Hidden states stay *packed*, one row per
real token ``(tokens, hidden)``, so the dense layers (nine tenths of the work) never compute
padding; only attention scatters rows into a padded ``(B, T)`` grid. Query/key/value come out of
one fused matmul, attention reads strided views instead of copying heads apart, and the
elementwise work (GELU, LayerNorm, softmax) runs in place.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from agent.embedders.minilm_weights import LayerWeights, MiniLMWeights

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
# Sees each dense layer's packed input rows: (layer index, "qkv" | "out" | "up" | "down", rows).
Probe = Callable[[int, str, F32], None]

# Abramowitz & Stegun 7.1.26: erf(z) = 1 - t*(a1 + t*(a2 + ...)) * exp(-z*z), t = 1/(1 + p*z),
# for z >= 0, absolute error below 1.5e-7, i.e. float32 precision. numpy has no erf and BERT's
# GELU is the exact erf one (the tanh shortcut drifts by up to ~1e-3 per activation).
# The constants below already carry the 1/sqrt(2) of GELU's argument and the 0.5 of Phi.
_P = np.float32(0.3275911 / np.sqrt(2.0))
_A1, _A2, _A3, _A4, _A5 = (
    np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_NEG_HALF = np.float32(-0.5)
# Rows per GELU block: the four (rows, 1536) float32 temporaries then stay inside L2.
_GELU_BLOCK = 32
# A logit this negative gets exactly zero weight after exp in float32.
_MASKED = np.float32(-1e9)
# OpenBLAS (SkylakeX sgemm) is measurably slower for 3 (mod 4) rows than for the next multiple
# of 4 (15 -> 16 rows: 7.7 -> 7.2 ms for a pass's 24 matmuls), so such packs get one spare row.
# Other remainders gain nothing from padding (17 -> 20 rows is slower).
_SPARE_ROW_WHEN = 3


def _gelu_block(x: F32) -> None:
    a = np.abs(x)
    t = a * _P
    t += 1.0
    np.reciprocal(t, out=t)
    q = t * _A5
    for coef in (_A4, _A3, _A2, _A1):
        q += coef
        q *= t
    np.multiply(a, a, out=t)
    t *= _NEG_HALF
    np.exp(t, out=t)
    q *= t
    q *= a
    np.maximum(x, 0.0, out=x)
    x -= q


def gelu_(x: F32) -> F32:
    """Exact (erf) GELU of a 2-D *x*, in place; returns *x*.

    gelu(x) = x * Phi(x) = max(x, 0) - |x| * Q(|x|), where Q(a) = 1 - Phi(a) is the normal tail,
    so the sign never needs a branch.
    """
    for start in range(0, x.shape[0], _GELU_BLOCK):
        _gelu_block(x[start : start + _GELU_BLOCK])
    return x


def layer_norm_(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    """LayerNorm over the last axis of a 2-D *x*, in place; returns *x*."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)
    var *= 1.0 / x.shape[-1]
    var += eps
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= gamma
    x += beta
    return x


class Batch:
    """Where each packed token row sits in the padded ``(B, T)`` grid, built once per pass."""

    def __init__(self, lengths: list[int]) -> None:
        self.size = len(lengths)
        self.seq = max(lengths)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.padded = any(n != self.seq for n in lengths)
        offsets = np.repeat(np.arange(self.size) * self.seq, self.lengths)
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        # position of every packed row within its own text: 0, 1, ..., len-1 per text
        self.positions = np.arange(int(self.lengths.sum())) - np.repeat(starts, self.lengths)
        self.grid_rows = offsets + self.positions
        self.starts = starts
        self.tokens = len(self.positions)
        # Rows through the dense layers: the tokens, plus a spare zero row when that is faster.
        self.rows = self.tokens + (1 if self.tokens % 4 == _SPARE_ROW_WHEN else 0)
        self.mask_bias: F32 | None = None
        if self.padded:
            keep = np.arange(self.seq)[None, :] < self.lengths[:, None]
            bias = np.where(keep, np.float32(0.0), _MASKED).astype(np.float32)
            self.mask_bias = bias[:, None, None, :]  # (B, 1, 1, T) over heads and queries


def _attention(qkv: F32, batch: Batch, heads: int) -> F32:
    hidden = qkv.shape[1] // 3
    head_dim = hidden // heads
    grid_len = batch.size * batch.seq
    if batch.padded:
        grid = np.zeros((grid_len, 3 * hidden), dtype=np.float32)
        grid[batch.grid_rows] = qkv[: batch.tokens]
    else:
        grid = qkv[:grid_len]
    # (B*T, 3*H*D) viewed as (3, B, H, T, D) without copying; BLAS takes the strides as-is.
    split = grid.reshape(batch.size, batch.seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    q, k, v = split[0], split[1], split[2]
    scores = np.matmul(q, k.swapaxes(-1, -2))  # (B, H, T, T); the scale is folded into q
    if batch.mask_bias is not None:
        scores += batch.mask_bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    out = np.empty((batch.rows, hidden), dtype=np.float32)
    out[batch.tokens :] = 0.0
    context = np.empty((grid_len, hidden), dtype=np.float32) if batch.padded else out[:grid_len]
    # Writing through the transposed view lands heads side by side: no concat copy after.
    heads_view = context.reshape(batch.size, batch.seq, heads, head_dim).transpose(0, 2, 1, 3)
    np.matmul(scores, v, out=heads_view)
    if batch.padded:
        np.take(context, batch.grid_rows, axis=0, out=out[: batch.tokens])
    return out


def _linear(x: F32, w: F32, b: F32) -> F32:
    y: F32 = np.matmul(x, w)
    y += b
    return y


def _layer(
    x: F32, w: LayerWeights, batch: Batch, heads: int, eps: float, probe: tuple[Probe, int] | None
) -> F32:
    def seen(name: str, rows: F32) -> F32:
        if probe is not None:
            probe[0](probe[1], name, rows)
        return rows

    qkv = _linear(seen("qkv", x), w.qkv_w, w.qkv_b)
    attn = _linear(seen("out", _attention(qkv, batch, heads)), w.attn_out_w, w.attn_out_b)
    attn += x
    layer_norm_(attn, w.attn_ln_g, w.attn_ln_b, eps)
    inner = gelu_(_linear(seen("up", attn), w.up_w, w.up_b))
    out = _linear(seen("down", inner), w.down_w, w.down_b)
    out += attn
    return layer_norm_(out, w.out_ln_g, w.out_ln_b, eps)


def encode(weights: MiniLMWeights, token_ids: list[list[int]], probe: Probe | None = None) -> F32:
    """Embed tokenised texts (each with its [CLS]/[SEP]); returns ``(len, hidden)`` unit rows.

    *probe*, if given, sees every dense layer's input (to measure activation ranges).

    A text's vector does not depend on what it is batched with: padding never enters the dense
    layers, attention masks it out, and the mean covers only the text's own tokens.
    """
    x, batch = hidden_states(weights, token_ids, probe)
    pooled = np.add.reduceat(x[: batch.tokens], batch.starts, axis=0)
    pooled /= batch.lengths[:, None].astype(np.float32)
    norms = np.sqrt(np.einsum("bh,bh->b", pooled, pooled))
    pooled /= np.maximum(norms, np.float32(1e-12))[:, None]
    return np.ascontiguousarray(pooled, dtype=np.float32)


def hidden_states(
    weights: MiniLMWeights,
    token_ids: list[list[int]],
    probe: Probe | None = None,
    second_segment: list[list[int]] | None = None,
) -> tuple[F32, Batch]:
    """The last layer's packed token rows of tokenised texts, and where each text's rows are
    (``batch.starts``: its [CLS] row).

    *second_segment*, per text, the token type ids of a sentence pair (0 for the first
    sentence, 1 for the second): rows of type 1 also get `MiniLMWeights.second_type` added.
    """
    lengths = [len(ids) for ids in token_ids]
    if min(lengths) < 1 or max(lengths) > weights.max_positions:
        raise ValueError(f"each text needs 1..{weights.max_positions} tokens, got {lengths}")
    batch = Batch(lengths)
    eps = weights.layer_norm_eps
    flat_ids = np.zeros(batch.rows, dtype=np.int64)  # any spare row reads [PAD] at position 0
    flat_ids[: batch.tokens] = [t for ids in token_ids for t in ids]
    positions = np.zeros(batch.rows, dtype=np.int64)
    positions[: batch.tokens] = batch.positions
    x = weights.word_embeddings[flat_ids]
    x += weights.position_embeddings[positions]
    if second_segment is not None:
        second = np.zeros(batch.rows, dtype=bool)
        second[: batch.tokens] = [t == 1 for types in second_segment for t in types]
        x[second] += weights.second_type
    layer_norm_(x, weights.embed_ln_g, weights.embed_ln_b, eps)
    for i, layer in enumerate(weights.layers):
        x = _layer(x, layer, batch, weights.num_heads, eps, None if probe is None else (probe, i))
    return x, batch
