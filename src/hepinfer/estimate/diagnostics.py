"""Warning categories of the estimator (filter them with the standard ``warnings`` module)."""

from __future__ import annotations

__all__ = [
    "EstimateWarning",
    "OverUtilisationWarning",
    "ReuseFactorWarning",
    "UnrollLimitWarning",
]


class EstimateWarning(UserWarning):
    """Something in the estimated design will likely fail or differ in Vivado/Vitis HLS."""


class UnrollLimitWarning(EstimateWarning):
    """A loop the kernel fully unrolls exceeds Vivado's 4,096-iteration unroll limit.

    Vivado HLS then stops with ``XFORM 203-504: Stop unrolling loop ...`` (hls4ml issue
    #1013); use the Resource strategy or a larger reuse factor.
    """


class OverUtilisationWarning(EstimateWarning):
    """The design needs more of a resource than the target part has."""


class ReuseFactorWarning(EstimateWarning):
    """The reuse factor does not suit the Resource-strategy kernel of this layer.

    ``dense_resource`` needs the products ``n_in * n_out`` to divide evenly by the reuse
    factor R, R to be a multiple of ``n_in`` when it exceeds it, and, when R < ``n_in``,
    the multipliers ``ceil(n_in * n_out / R)`` to be a multiple of ``n_out``; hls4ml then
    replaces R by the closest valid value (`hepinfer.estimate.valid_reuse_factors`).
    """
