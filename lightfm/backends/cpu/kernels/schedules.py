"""Per-parameter learning-rate schedules: one step on one embedding row or one bias.

``mom`` is None for adagrad (Duchi et al. 2011) and the squared-step
accumulator for adadelta (Zeiler 2012); :func:`step_row` and :func:`step_bias`
pick the schedule at compile time: Numba drops the branch that a ``mom`` of
None (or an array) cannot take (see :mod:`lightfm.backends.cpu.kernels.dispatch`).

Each applies the gradient ``coef * grad[c]`` to component ``c`` of row ``f`` and
returns the sum of the local learning rates it used, which the lazy L2
regularisation averages. ``alpha`` is the side's L2 coefficient: as in the
original LightFM, each stepped parameter is then multiplied by
``1 + alpha * local learning rate`` (see :mod:`.sgd` for the whole scheme).
"""

import numpy as np

from ..._common import ACC_MAX
from ..._jit import njit
from .dispatch import BLOCK_OPTIONS
from .layout import EPSILON, LEARNING_RATE, RHO

_ONE = np.float32(1.0)


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def regularised(value, alpha, rate):
    """``value * (1 + alpha * rate)``: exactly ``value`` without regularisation, so no branch.

    In float32, although the original computes the factor in float64: where they differ (``alpha *
    rate`` below float32's resolution), so little growth is lost that the regularised grid of
    ``benchmarks/bench_differential.py`` moved by 0.0002 AUC on average (at most 0.003), and
    regularised fits take 0.85x-0.92x the time of the float64 version.
    """
    return value * (_ONE + alpha * rate)


@njit(**BLOCK_OPTIONS)
def step_row(emb, acc, mom, f, grad, coef, schedule, alpha):
    """Step ``emb[f]`` along ``coef * grad[:d]``; returns the sum of local learning rates."""
    lr_sum = np.float32(0.0)
    if mom is None:  # adagrad
        learning_rate = schedule[LEARNING_RATE]
        for c in range(emb.shape[1]):
            g = coef * grad[c]
            a = acc[f, c]
            r = learning_rate / np.sqrt(a)
            acc[f, c] = min(a + g * g, ACC_MAX)
            emb[f, c] = regularised(emb[f, c] - r * g, alpha, r)
            lr_sum += r
    else:  # adadelta
        rho = schedule[RHO]
        epsilon = schedule[EPSILON]
        one_minus_rho = _ONE - rho
        for c in range(emb.shape[1]):
            g = coef * grad[c]
            a = min(rho * acc[f, c] + one_minus_rho * g * g, ACC_MAX)
            acc[f, c] = a
            r = np.sqrt(mom[f, c] + epsilon) / np.sqrt(a + epsilon)
            step = r * g
            mom[f, c] = min(rho * mom[f, c] + one_minus_rho * step * step, ACC_MAX)
            emb[f, c] = regularised(emb[f, c] - step, alpha, r)
            lr_sum += r
    return lr_sum


@njit(**BLOCK_OPTIONS)
def step_bias(bias, acc, mom, f, g, schedule, alpha):
    """Step ``bias[f]`` along gradient ``g``; returns the local learning rate."""
    if mom is None:  # adagrad
        a = acc[f]
        r = schedule[LEARNING_RATE] / np.sqrt(a)
        acc[f] = min(a + g * g, ACC_MAX)
        bias[f] = regularised(bias[f] - r * g, alpha, r)
        return r
    rho = schedule[RHO]
    epsilon = schedule[EPSILON]
    one_minus_rho = _ONE - rho
    a = min(rho * acc[f] + one_minus_rho * g * g, ACC_MAX)
    acc[f] = a
    r = np.sqrt(mom[f] + epsilon) / np.sqrt(a + epsilon)
    step = r * g
    mom[f] = min(rho * mom[f] + one_minus_rho * step * step, ACC_MAX)
    bias[f] = regularised(bias[f] - step, alpha, r)
    return r
