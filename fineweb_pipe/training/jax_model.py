"""The same small GPT-2 style model in plain JAX: parameters are a dict pytree, the model a pure function.

Same shapes as ``model.GPT`` (pre-norm blocks, causal attention, tanh GELU MLP, tied embeddings,
GPT-2 initialization), so the two frameworks train comparable models on the same batches.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fineweb_pipe.training.config import GPTConfig

Params = dict[str, Any]


def init_params(config: GPTConfig, seed: int) -> Params:
    """GPT-2 initialization: N(0, 0.02) matrices, residual projections scaled by 1/sqrt(2 * layers)."""
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), 2 + 4 * config.n_layer))
    width = config.d_model

    def normal(shape: tuple[int, ...], std: float = 0.02) -> jax.Array:
        return std * jax.random.normal(next(keys), shape, dtype=jnp.float32)

    def norm() -> dict[str, jax.Array]:
        return {"scale": jnp.ones(width), "bias": jnp.zeros(width)}

    residual_std = 0.02 / math.sqrt(2 * config.n_layer)
    blocks = [
        {
            "norm_attention": norm(),
            "qkv": {"w": normal((width, 3 * width)), "b": jnp.zeros(3 * width)},
            "proj": {"w": normal((width, width), residual_std), "b": jnp.zeros(width)},
            "norm_mlp": norm(),
            "fc": {"w": normal((width, 4 * width)), "b": jnp.zeros(4 * width)},
            "out": {"w": normal((4 * width, width), residual_std), "b": jnp.zeros(width)},
        }
        for _ in range(config.n_layer)
    ]
    return {"token_embedding": normal((config.vocab_size, width)), "position_embedding": normal((config.seq_len, width)),
            "blocks": blocks, "norm": norm()}


def _layer_norm(x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]


def _attention(x: jax.Array, block: Params, n_head: int) -> jax.Array:
    batch, seq, width = x.shape
    qkv = x @ block["qkv"]["w"] + block["qkv"]["b"]
    q, k, v = (t.reshape(batch, seq, n_head, width // n_head).transpose(0, 2, 1, 3) for t in jnp.split(qkv, 3, -1))
    scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(width // n_head)
    causal = jnp.tril(jnp.ones((seq, seq), dtype=bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
    y = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)
    return y @ block["proj"]["w"] + block["proj"]["b"]


def forward(params: Params, inputs: jax.Array, n_head: int) -> jax.Array:
    """Logits (batch, seq, vocab) for int ``inputs`` (batch, seq)."""
    x = params["token_embedding"][inputs] + params["position_embedding"][: inputs.shape[1]]
    for block in params["blocks"]:
        x = x + _attention(_layer_norm(x, block["norm_attention"]), block, n_head)
        hidden = jax.nn.gelu(_layer_norm(x, block["norm_mlp"]) @ block["fc"]["w"] + block["fc"]["b"], approximate=True)
        x = x + hidden @ block["out"]["w"] + block["out"]["b"]
    return _layer_norm(x, params["norm"]) @ params["token_embedding"].T


def loss_fn(params: Params, inputs: jax.Array, targets: jax.Array, n_head: int) -> jax.Array:
    """Mean next-token cross-entropy."""
    logits = forward(params, inputs, n_head)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(log_probs, targets[..., None], axis=-1).mean()
