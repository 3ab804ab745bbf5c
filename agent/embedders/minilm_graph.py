"""all-MiniLM-L6-v2 as an ONNX graph, built from the same weights the numpy pass reads.

No exported model file ships with the weights package (its export path needs PyTorch), so the
graph is written here with standard opset-17 operators: embeddings, six BERT layers (fused
query/key/value, masked softmax attention, exact erf GELU), masked mean pooling and L2 norm.
onnxruntime's own optimizer then fuses LayerNorm, GELU and bias adds into its kernels.

Inputs: ``input_ids`` int64 ``(B, T)`` and ``attention_mask`` float32 ``(B, T)`` (1 = token,
0 = padding). Output: ``embeddings`` float32 ``(B, 384)``, unit rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from agent.embedders.minilm_weights import LayerWeights, MiniLMWeights

F32 = npt.NDArray[np.float32]
# Per layer: the dense layers' names ("qkv", "out", "up", "down") to their inputs' channel maxima.
ActivationRanges = list[dict[str, F32]]

OPSET = 17
MS_DOMAIN = "com.microsoft"  # onnxruntime's own fused operators
INPUT_IDS = "input_ids"
TOKEN_TYPE_IDS = "token_type_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT = "embeddings"
LOGITS = "logits"
_MASKED = -1e9  # a logit this negative gets exactly zero weight after softmax in float32
# How much of the activations' range moves into the weights (SmoothQuant's alpha). With one
# activation scale per text, a few outlier channels would take the whole int8 range: measured
# on 200 questions against float32, alpha 0.5 kept cosine >= 0.983, 0.7 >= 0.997, 0.9 >= 0.998.
SMOOTHING_ALPHA = 0.9
# Per-token scales: 0.5 to 0.7 kept every reference sentence at cosine >= 0.99 against float32;
# 0 (plain int8) fell to 0.97.
SMOOTHING_ALPHA_PER_TOKEN = 0.6


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, array: npt.NDArray[np.generic], name: str | None = None) -> str:
        name = name or self._fresh("c")
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self._fresh(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"


def _i64(*values: int) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def _f32(value: float) -> F32:
    return np.asarray(value, dtype=np.float32)


def _linear(
    g: _Graph, x: str, w: F32, b: F32, act_max: F32 | None, *, per_token: bool = False
) -> str:
    """``x @ w + b``; int8 when the caller measured the input's range (*act_max*).

    Int8: SmoothQuant-style, a per-input-channel factor moves part of the activations' outlier
    range into the weights; weights are then quantized per output column. Activations are
    quantized on the fly, either
    * per tensor by onnxruntime's fused ``DynamicQuantizeMatMul`` (uint8 from their min and
      max; one node instead of fourteen). Per tensor is per text, as `minilm_onnx.Int8Forward`
      runs each text on its own, so a text's vector never depends on its batch; or
    * with *per_token*, per token row (symmetric, shifted to uint8 around 128): the GELU
      outputs entering the ``down`` layer need it, as a few tokens' outliers would otherwise
      take the whole range of a short text (per tensor there: "Thanks!" at cosine 0.969 to
      the reference instead of 0.992).
    """
    if act_max is None:
        return g.op("Add", [g.op("MatMul", [x, g.const(w)]), g.const(b)])
    alpha = SMOOTHING_ALPHA_PER_TOKEN if per_token else SMOOTHING_ALPHA
    smooth = np.maximum(act_max, 1e-5) ** alpha
    smooth /= np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1.0 - alpha)
    smoothed = (w * smooth[:, None]).astype(np.float32)
    x = g.op("Mul", [x, g.const((1.0 / smooth).astype(np.float32))])
    w_scale = np.maximum(np.abs(smoothed).max(axis=0), 1e-12) / 127.0
    w_q = np.clip(np.round(smoothed / w_scale), -127, 127).astype(np.int8)
    if not per_token:
        inputs = [x, g.const(w_q), g.const(w_scale.astype(np.float32)), "", g.const(b)]
        return g.op("DynamicQuantizeMatMul", inputs, domain=MS_DOMAIN)
    row_max = g.op("ReduceMax", [g.op("Abs", [x])], axes=[-1], keepdims=1)
    x_scale = g.op("Mul", [g.op("Max", [row_max, g.const(_f32(1e-12))]), g.const(_f32(1 / 127))])
    # x / scale is in [-127, 127]; + 128.5 then Cast (which truncates) rounds to [1, 255].
    scaled = g.op("Mul", [x, g.op("Reciprocal", [x_scale])])
    x_q = g.op("Cast", [g.op("Add", [scaled, g.const(_f32(128.5))])], to=TensorProto.UINT8)
    acc = g.op("MatMulInteger", [x_q, g.const(w_q), g.const(np.asarray(128, dtype=np.uint8))])
    y = g.op("Mul", [g.op("Cast", [acc], to=TensorProto.FLOAT), x_scale])
    y = g.op("Mul", [y, g.const(w_scale.astype(np.float32))])
    return g.op("Add", [y, g.const(b)])


def _layer(
    g: _Graph,
    x: str,
    w: LayerWeights,
    ranges: dict[str, F32] | None,
    mask_bias: str,
    heads: int,
    eps: float,
) -> str:
    def act(name: str) -> F32 | None:
        return None if ranges is None else ranges[name]

    hidden = w.attn_out_w.shape[0]
    head_dim = hidden // heads
    qkv = _linear(g, x, w.qkv_w, w.qkv_b, act("qkv"))
    # (B, T, 3*H*D) -> (3, B, H, T, D); the 1/sqrt(D) scale is already folded into q.
    split = g.op("Reshape", [qkv, g.const(_i64(0, 0, 3, heads, head_dim))])
    split = g.op("Transpose", [split], perm=[2, 0, 3, 1, 4])
    q, k, v = (g.op("Gather", [split, g.const(_i64(i).reshape(()))], axis=0) for i in range(3))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(_i64(0, 0, hidden))])
    attn = _linear(g, context, w.attn_out_w, w.attn_out_b, act("out"))
    attn = g.op(
        "LayerNormalization",
        [g.op("Add", [attn, x]), g.const(w.attn_ln_g), g.const(w.attn_ln_b)],
        axis=-1,
        epsilon=eps,
    )
    up = _linear(g, attn, w.up_w, w.up_b, act("up"))
    inner = g.op("Gelu", [up], domain=MS_DOMAIN)  # the exact (erf) GELU, one kernel
    out = _linear(g, inner, w.down_w, w.down_b, act("down"), per_token=True)
    return g.op(
        "LayerNormalization",
        [g.op("Add", [out, attn]), g.const(w.out_ln_g), g.const(w.out_ln_b)],
        axis=-1,
        epsilon=eps,
    )


def build_graph(weights: MiniLMWeights, ranges: ActivationRanges | None = None) -> onnx.ModelProto:
    """The whole encoder with pooling, as a checked ONNX model.

    Float32 without *ranges*; with them (per layer, the absolute maximum of each dense layer's
    input channels, from `minilm_forward.encode`'s probe) every dense layer runs in int8.
    """
    g = _Graph()
    x = _encoder(g, weights, ranges, pair=False)
    # masked mean over tokens, then unit length
    mask3 = g.op("Unsqueeze", [ATTENTION_MASK, g.const(_i64(2))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), g.const(_i64(1))], keepdims=0)
    count = g.op("ReduceSum", [ATTENTION_MASK, g.const(_i64(1))], keepdims=1)
    pooled = g.op("Div", [summed, count])
    norm = g.op("ReduceL2", [pooled], axes=[1], keepdims=1)  # axes is an attribute until opset 18
    norm = g.op("Max", [norm, g.const(_f32(1e-12))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], [OUTPUT]))
    return _model(g, [INPUT_IDS, ATTENTION_MASK], OUTPUT, weights.hidden)


def build_pair_graph(
    weights: MiniLMWeights, head: PairHead, ranges: ActivationRanges | None = None
) -> onnx.ModelProto:
    """A sentence-pair classifier (`agent.embedders.pair_judge`): the encoder over
    ``[CLS] a [SEP] b [SEP]`` with ``token_type_ids`` (1 on the second sentence), then BERT's
    pooler (dense + tanh on the [CLS] row) and a one-logit classifier: output ``logits``
    ``(B, 1)``. Int8 dense layers with *ranges*, as `build_graph`."""
    g = _Graph()
    x = _encoder(g, weights, ranges, pair=True)
    first = g.op("Gather", [x, g.const(_i64(0).reshape(()))], axis=1)  # each row's [CLS]
    pooled = g.op("MatMul", [first, g.const(head.pooler_w)])
    pooled = g.op("Tanh", [g.op("Add", [pooled, g.const(head.pooler_b)])])
    logit = g.op("MatMul", [pooled, g.const(head.classifier_w.reshape(-1, 1))])
    bias = np.asarray([head.classifier_b], dtype=np.float32)
    g.nodes.append(helper.make_node("Add", [logit, g.const(bias)], [LOGITS]))
    return _model(g, [INPUT_IDS, TOKEN_TYPE_IDS, ATTENTION_MASK], LOGITS, 1)


@dataclass(frozen=True, slots=True)
class PairHead:
    """What a sentence-pair classifier adds on top of the encoder."""

    pooler_w: F32  # (hidden, hidden), laid out (in, out)
    pooler_b: F32
    classifier_w: F32  # (hidden,)
    classifier_b: float


def _encoder(
    g: _Graph, weights: MiniLMWeights, ranges: ActivationRanges | None, *, pair: bool
) -> str:
    if ranges is not None and len(ranges) != len(weights.layers):
        raise ValueError(f"ranges for {len(ranges)} layers, the model has {len(weights.layers)}")
    eps = weights.layer_norm_eps
    # positions 0..T-1 for every row (type-0 row is already in the position table)
    seq_len = g.op("Gather", [g.op("Shape", [INPUT_IDS]), g.const(_i64(1).reshape(()))], axis=0)
    positions = g.op("Range", [g.const(_i64(0).reshape(())), seq_len, g.const(_i64(1).reshape(()))])
    words = g.op("Gather", [g.const(weights.word_embeddings), INPUT_IDS], axis=0)
    places = g.op("Gather", [g.const(weights.position_embeddings), positions], axis=0)
    x = g.op("Add", [words, places])
    if pair:  # type 1 adds (its row - type 0's row), which the position table already holds
        types = np.stack([np.zeros_like(weights.second_type), weights.second_type])
        x = g.op("Add", [x, g.op("Gather", [g.const(types), TOKEN_TYPE_IDS], axis=0)])
    x = g.op(
        "LayerNormalization",
        [x, g.const(weights.embed_ln_g), g.const(weights.embed_ln_b)],
        axis=-1,
        epsilon=eps,
    )
    # (B, T) mask -> (B, 1, 1, T) additive bias: 0 on tokens, -1e9 on padding
    bias = g.op("Mul", [g.op("Sub", [g.const(_f32(1.0)), ATTENTION_MASK]), g.const(_f32(_MASKED))])
    mask_bias = g.op("Unsqueeze", [bias, g.const(_i64(1, 2))])
    for i, layer in enumerate(weights.layers):
        layer_ranges = None if ranges is None else ranges[i]
        x = _layer(g, x, layer, layer_ranges, mask_bias, weights.num_heads, eps)
    return x


def _model(g: _Graph, inputs: list[str], output: str, width: int) -> onnx.ModelProto:
    ids_shape = ["batch", "seq"]
    types = {INPUT_IDS: TensorProto.INT64, TOKEN_TYPE_IDS: TensorProto.INT64}
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info(n, types.get(n, TensorProto.FLOAT), ids_shape)
            for n in inputs
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", width])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
