"""Per-parameter learning-rate schedules: one step on one embedding row or one bias.

``mom`` is None for adagrad (Duchi et al. 2011) and the squared-step
accumulator for adadelta (Zeiler 2012). Passing None rather than a flag makes
the choice at compile time: Numba prunes the untaken branch, so each compiled
loop is straight-line and vectorises.

Each function applies the gradient ``coef * grad[c]`` to component ``c`` of row
``f`` and returns the sum of the local learning rates it used, which the lazy L2
regularisation averages. ``scale`` is the side's lazy-regularisation scale:
stored values are effective values times it, so a step moves them by
``step * scale``.
"""

import numpy as np
from numba import njit

_ONE = np.float32(1.0)


@njit(cache=True, nogil=True, fastmath=True, _nrt=False, error_model="numpy")
def step_row(emb, acc, mom, f, grad, coef, schedule, scale):
    """Step ``emb[f]`` along ``coef * grad[:d]``; returns the sum of local learning rates."""
    learning_rate, rho, epsilon = schedule
    lr_sum = np.float32(0.0)
    if mom is None:
        for c in range(emb.shape[1]):
            g = coef * grad[c]
            a = acc[f, c] + g * g
            acc[f, c] = a
            r = learning_rate / np.sqrt(a)
            emb[f, c] -= r * g * scale
            lr_sum += r
    else:
        one_minus_rho = _ONE - rho
        for c in range(emb.shape[1]):
            g = coef * grad[c]
            a = rho * acc[f, c] + one_minus_rho * g * g
            acc[f, c] = a
            r = np.sqrt(mom[f, c] + epsilon) / np.sqrt(a + epsilon)
            step = r * g
            mom[f, c] = rho * mom[f, c] + one_minus_rho * step * step
            emb[f, c] -= step * scale
            lr_sum += r
    return lr_sum


@njit(cache=True, nogil=True, fastmath=True, _nrt=False, error_model="numpy")
def step_bias(bias, acc, mom, f, g, schedule, scale):
    """Step ``bias[f]`` along gradient ``g``; returns the local learning rate."""
    learning_rate, rho, epsilon = schedule
    if mom is None:
        a = acc[f] + g * g
        acc[f] = a
        r = learning_rate / np.sqrt(a)
        bias[f] -= r * g * scale
        return r
    one_minus_rho = _ONE - rho
    a = rho * acc[f] + one_minus_rho * g * g
    acc[f] = a
    r = np.sqrt(mom[f] + epsilon) / np.sqrt(a + epsilon)
    step = r * g
    mom[f] = rho * mom[f] + one_minus_rho * step * step
    bias[f] -= step * scale
    return r
