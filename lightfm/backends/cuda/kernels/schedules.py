"""One adagrad or adadelta step of one component, as on the CPU (:mod:`lightfm.backends.cpu.kernels.schedules`).

Twins of the CPU ones for the reason given in :mod:`.rng`.
"""

import math

import numpy as np
from numba import cuda

from ..._common import (
    ACC_MAX,
)
from .target import ONE32


@cuda.jit(device=True)
def saturated(value):
    """``value``, at most float32's largest (the accumulators' ceiling, as on the CPU)."""
    return value if value < ACC_MAX else ACC_MAX


@cuda.jit(device=True)
def regularised(value, alpha, rate):
    """``value * (1 + alpha * rate)``, as on the CPU (lightfm.backends.cpu.kernels.schedules)."""
    return value * (ONE32 + alpha * rate)


@cuda.jit(device=True)
def step(values, acc, mom, f, c, g, adadelta, learning_rate, rho, epsilon, alpha):
    """One adagrad or adadelta step of ``values[f, c]`` along ``g``, then its growth by the lazy L2
    (see lightfm.backends.cpu.kernels.sgd); returns the local learning rate.

    Adagrad takes its rate from the accumulator before this step's squared gradient is added.
    """
    if adadelta:
        one_minus_rho = ONE32 - rho
        a = saturated(rho * acc[f, c] + one_minus_rho * g * g)
        acc[f, c] = a
        r = math.sqrt(mom[f, c] + epsilon) / math.sqrt(a + epsilon)
        step = r * g
        mom[f, c] = saturated(rho * mom[f, c] + one_minus_rho * step * step)
        values[f, c] = regularised(values[f, c] - step, alpha, r)
        return np.float32(r)
    a = acc[f, c]
    r = learning_rate / math.sqrt(a)
    acc[f, c] = saturated(a + g * g)
    values[f, c] = regularised(values[f, c] - r * g, alpha, r)
    return np.float32(r)


@cuda.jit(device=True)
def step_bias(values, acc, mom, f, g, adadelta, learning_rate, rho, epsilon, alpha):
    """:func:`_step` on a bias."""
    if adadelta:
        one_minus_rho = ONE32 - rho
        a = saturated(rho * acc[f] + one_minus_rho * g * g)
        acc[f] = a
        r = math.sqrt(mom[f] + epsilon) / math.sqrt(a + epsilon)
        step = r * g
        mom[f] = saturated(rho * mom[f] + one_minus_rho * step * step)
        values[f] = regularised(values[f] - step, alpha, r)
        return np.float32(r)
    a = acc[f]
    r = learning_rate / math.sqrt(a)
    acc[f] = saturated(a + g * g)
    values[f] = regularised(values[f] - r * g, alpha, r)
    return np.float32(r)
