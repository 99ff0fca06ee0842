"""Products HLS removes between pruned dense layers: unused outputs, constant inputs.

A Latency-strategy dense layer in io_parallel holds its weights as constants (hls4ml's
``dense_latency``: ``function_instantiate`` on the weights, every product unrolled), so the
HLS compiler sees through a chain of such layers:

- an output of layer A that the next layer B multiplies only by zero weights is never used:
  HLS removes it and every product that feeds it (dead-code elimination);
- an output of layer A whose weight column is all zero is the constant ``act(bias)``: the
  products of B by that input are constants and are folded (constant propagation).

Both cascade along the chain. Element-wise activations between the layers (ReLU, tables,
...) keep a constant constant and an unused value unused; anything else (softmax, a
Resource-strategy layer whose weights sit in memory, io_stream processes joined by FIFOs)
ends the chain. The evidence is the csynth report of a 75 %-pruned MLP 4-128-3 at reuse
factor 16 (Vivado HLS 2020.1, ``pominiq/DNNonSilicon``, ``Dummy_RF16_with_pruning75``): of
the first layer's 128 non-zero weights only the 90 of neurons that the second layer reads
remain (51 neurons are unused), 84 of them on its 8 shared multipliers (the multiplexers in
front of them have 84 inputs in all), and the second layer multiplies 72 of its 96 non-zero
weights (43 of its inputs are constant).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from hepinfer.estimate.layers import ActivationCost, DenseCost, LayerCost, as_fixed
from hepinfer.knobs import IOType, Strategy

__all__ = ["with_live_products"]


def _constant_weights(layer: object) -> bool:
    return (
        isinstance(layer, DenseCost)
        and layer.weights is not None
        and layer.strategy is Strategy.LATENCY
        and layer.io_type is IOType.PARALLEL
    )


def _chains(layers: tuple[LayerCost, ...]) -> list[list[int]]:
    """Runs of constant-weight dense layers joined only by element-wise activations."""
    chains: list[list[int]] = []
    current: list[int] = []
    for i, layer in enumerate(layers):
        if _constant_weights(layer):
            prev = layers[current[-1]] if current else None
            if (
                isinstance(prev, DenseCost)
                and isinstance(layer, DenseCost)
                and prev.n_out != layer.n_in
            ):
                chains.append(current)
                current = []
            current.append(i)
        elif not (isinstance(layer, ActivationCost) and layer.kind != "softmax"):
            chains.append(current)
            current = []
    chains.append(current)
    return [c for c in chains if len(c) > 1]


def _nonzero(layer: DenseCost) -> npt.NDArray[np.bool_]:
    q = as_fixed(layer.weight).to_mantissa(np.asarray(layer.weights, dtype=np.float64))
    return np.asarray(q != 0).reshape(layer.n_in, layer.n_out)


def with_live_products(layers: tuple[LayerCost, ...]) -> tuple[LayerCost, ...]:
    """``layers`` with `DenseCost.live` set where HLS removes or folds products."""
    out = list(layers)
    for chain in _chains(layers):
        dense = [d for i in chain if isinstance(d := layers[i], DenseCost)]
        masks = [_nonzero(d) for d in dense]
        # forward: an output with no product left is a constant; its consumers fold
        constant: npt.NDArray[np.bool_] = np.zeros(masks[0].shape[0], dtype=bool)
        for k, mask in enumerate(masks):
            masks[k] = mask & ~constant[:, None]
            constant = np.asarray(~masks[k].any(axis=0), dtype=bool)
        # backward: an output no later product reads is unused; its products go
        unused: npt.NDArray[np.bool_] = np.zeros(masks[-1].shape[1], dtype=bool)
        for k in range(len(masks) - 1, -1, -1):
            masks[k] = masks[k] & ~unused[None, :]
            unused = np.asarray(~masks[k].any(axis=1), dtype=bool)
        for i, mask, d in zip(chain, masks, dense, strict=True):
            if not np.array_equal(mask, _nonzero(d)):
                out[i] = replace(d, live=mask)
    return tuple(out)
