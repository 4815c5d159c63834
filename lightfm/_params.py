"""The hyperparameters of a model: their names, allowed values and checks, in one place."""

from __future__ import annotations

import numpy as np

from ._validation import ParameterError, is_int, is_real

LOSSES = ("logistic", "warp", "bpr", "warp-kos")
SCHEDULES = ("adagrad", "adadelta")
DEVICES = ("cpu", "cuda")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# Integers the kernels take as int32-range counts (a larger k, n or max_sampled means "all").
_INT_LIMIT = 2**31 - 1


def validate_hyperparameters(params: dict, fitting: bool = False) -> None:
    """Raise :class:`ParameterError` naming the first invalid hyperparameter.

    Run by the constructor and ``set_params``, and again by ``fit`` (``fitting``)
    because hyperparameters are public attributes that may be assigned directly.
    At fit time ``max_sampled = 0`` is allowed: the original documents it as a
    pass over the data that trains nothing.
    """

    def fail(name, allowed):
        raise ParameterError(f"Invalid {name}={params[name]!r}: must be {allowed}.")

    # isinstance first: ``in`` compares with ==, which arrays and sparse matrices answer oddly.
    if not isinstance(params["loss"], str) or params["loss"] not in LOSSES:
        fail("loss", "one of " + ", ".join(repr(x) for x in LOSSES))
    if not isinstance(params["learning_schedule"], str) or params["learning_schedule"] not in SCHEDULES:
        fail("learning_schedule", "one of " + ", ".join(repr(x) for x in SCHEDULES))
    for name in ("no_components", "k", "n", "max_sampled"):
        lowest = 0 if fitting and name == "max_sampled" else 1
        if not is_int(params[name]) or not lowest <= params[name] <= _INT_LIMIT:
            fail(name, f"an integer from {lowest} to {_INT_LIMIT}")
    # The kernels compute in float32: a larger value would turn into infinity there.
    if not is_real(params["learning_rate"]) or not 0 < params["learning_rate"] <= _FLOAT32_MAX:
        fail("learning_rate", f"a number > 0 and at most {_FLOAT32_MAX:.3g} (float32's largest)")
    for name in ("item_alpha", "user_alpha", "epsilon"):
        if not is_real(params[name]) or not 0 <= params[name] <= _FLOAT32_MAX:
            fail(name, f"a number >= 0 and at most {_FLOAT32_MAX:.3g} (float32's largest)")
    if not is_real(params["rho"]) or not 0 < params["rho"] < 1:
        fail("rho", "a number strictly between 0 and 1")
    # .get: pickles and subclasses from before the GPU engine have no device.
    device = params.get("device", "cpu")
    if not isinstance(device, str) or device not in DEVICES:
        params.setdefault("device", device)
        fail("device", "one of " + ", ".join(repr(x) for x in DEVICES))
    state = params["random_state"]
    if not (state is None or is_int(state) or isinstance(state, np.random.RandomState)):
        fail("random_state", "None, an integer seed or a numpy.random.RandomState")
    if is_int(state) and not 0 <= state < 2**32:
        fail("random_state", "an integer seed between 0 and 2**32 - 1")


def as_random_state(random_state) -> np.random.RandomState:
    """``random_state`` itself if a RandomState, else a new one seeded with it (None: from the OS)."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


# A pickled RandomState names its bit generator's class, whose module moved between NumPy majors: a
# model pickled under NumPy 2 did not load under NumPy 1.x. Pickles hold the generator's state instead.
_PICKLED_RANDOM_STATE = "lightfm:RandomState"


def random_state_to_pickle(value):
    """``value`` with a RandomState replaced by its state (a tuple of a name and plain values)."""
    if isinstance(value, np.random.RandomState):
        name, keys, position, has_gauss, cached_gaussian = value.get_state(legacy=True)
        return (_PICKLED_RANDOM_STATE, name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian)
    return value


def random_state_from_pickle(value):
    """The inverse of :func:`random_state_to_pickle`; anything else is returned as it is."""
    if isinstance(value, tuple) and len(value) == 6 and value[0] == _PICKLED_RANDOM_STATE:
        random_state = np.random.RandomState()
        random_state.set_state(value[1:])
        return random_state
    return value


def check_sample_weight_loss(loss: str, has_weights: bool) -> None:
    """k-OS WARP takes no sample weights: NotImplementedError, as the original raises."""
    if has_weights and loss == "warp-kos":
        raise NotImplementedError("sample_weight is not supported with the 'warp-kos' loss.")
