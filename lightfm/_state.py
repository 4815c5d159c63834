"""The model state: every learned array of a LightFM model, in one object.

Per side (users, items) a model holds six float32 arrays: the feature
embeddings ``[n_features, no_components]`` and biases ``[n_features]``, and
for each of them the optimiser's squared-gradient accumulator
(``*_gradients``: adagrad's sum, adadelta's average) and adadelta's
squared-step average (``*_momentum``, unused by adagrad). Creation, growth,
validation and the divergence check live here; engines train and
score on these arrays, and :class:`lightfm.LightFM` exposes each one as the
attribute of the same name (``model.item_embeddings``, ...), as the original does.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from ._validation import FeatureMatrix, all_finite
from .backends._common import cache_aligned_zeros
from .backends.base import Side

SIDES = ("user", "item")
KINDS = ("embeddings", "embedding_gradients", "embedding_momentum", "biases", "bias_gradients", "bias_momentum")
# Item side first: the order in which a fresh model draws its embeddings.
PARAMETER_NAMES = tuple(f"{side}_{kind}" for side in ("item", "user") for kind in KINDS)
# Rows of embeddings initialised per random draw (bounds the float64 temporaries).
_INIT_BLOCK_ROWS = 16384
# A model is diverged once a bound on its scores passes this: 2**96, float32's largest (about 2**128)
# divided by 2**32, the room left for feature weights (a representation sums its features' rows, each
# times its weight, so feature rows summing to weights of up to 2**16 per side still score within range).
SCORE_LIMIT = 2.0**96


def fresh_side(n_features: int, no_components: int, schedule: str, random_state: np.random.RandomState) -> Side:
    """Newly initialised arrays for ``n_features`` features of one side.

    Embeddings are uniform in ``[-0.5, 0.5) / no_components``, biases 0;
    adagrad's accumulators start at 1 (its first rate is the learning rate),
    adadelta's at 0.
    """
    _check_memory(n_features, no_components)
    accumulator_start = 1.0 if schedule == "adagrad" else 0.0
    arrays = {}
    for kind in KINDS:
        shape = (n_features, no_components) if kind.startswith("embedding") else (n_features,)
        arrays[kind] = cache_aligned_zeros(shape)
        if kind.endswith("gradients") and accumulator_start:
            arrays[kind].fill(accumulator_start)
    # Drawn in blocks of rows (the same random stream as one call) so that the float64
    # temporaries stay small: for 200k rows one call would transiently hold 100 MB.
    for start in range(0, n_features, _INIT_BLOCK_ROWS):
        stop = min(n_features, start + _INIT_BLOCK_ROWS)
        block = random_state.rand(stop - start, no_components)
        arrays["embeddings"][start:stop] = (block - 0.5) / no_components
    return Side(**arrays)


def _check_memory(n_features: int, no_components: int) -> None:
    """Refuse a side that would not fit in this machine's memory, before allocating anything."""
    needed = 6 * 4 * n_features * (no_components + 1)
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return
    if needed > physical:
        raise ValueError(
            f"{n_features} feature embeddings of {no_components} components would need {needed / 2**30:.3g} GiB, "
            f"more than this machine's {physical / 2**30:.3g} GiB of memory: use fewer features or components."
        )


class FitInputs(NamedTuple):
    """What one side of a model was last fit with: how it is served when no features are passed.

    ``n_ids`` is the number of users (items) in the interactions; ``identity``
    whether the side had identity features (each id its own embedding row);
    ``features`` the feature matrix otherwise (fit's CSR form: for a float32
    CSR matrix the matrix itself, plus int64 row pointers), or None where it is not
    known (a model file saved without it); ``n_features`` its number of
    columns, the side's embedding rows at that fit.
    """

    n_ids: int
    identity: bool
    n_features: int
    features: FeatureMatrix | None


class ModelState:
    """The twelve learned arrays of a model, by name (:data:`PARAMETER_NAMES`); None before fitting.

    ``fit_inputs`` maps each side to its :class:`FitInputs`, or None where
    unknown (a model built from arrays, or pickled by an earlier version or by
    the original LightFM).
    """

    def __init__(self, arrays: dict | None = None):
        # Any values: these are public attributes users may assign; validate() checks them.
        self.arrays: dict[str, Any] = dict.fromkeys(PARAMETER_NAMES)
        if arrays:
            self.arrays.update(arrays)
        self.fit_inputs: dict[str, FitInputs | None] = dict.fromkeys(SIDES)

    @classmethod
    def fresh(cls, no_components, n_user_features, n_item_features, schedule, random_state) -> ModelState:
        """A newly initialised state (items drawn first, as the original does)."""
        state = cls()
        for side, n_features in (("item", n_item_features), ("user", n_user_features)):
            state.set_side(side, fresh_side(n_features, no_components, schedule, random_state))
        return state

    def side(self, side: str) -> Side:
        return Side(*(self.arrays[f"{side}_{kind}"] for kind in KINDS))

    def set_side(self, side: str, arrays: Side) -> None:
        for kind, array in zip(KINDS, arrays, strict=True):
            self.arrays[f"{side}_{kind}"] = array

    @property
    def is_fitted(self) -> bool:
        return all(array is not None for array in self.arrays.values())

    def n_features(self, side: str) -> int:
        return self.arrays[f"{side}_embeddings"].shape[0]

    @property
    def no_components(self) -> int:
        return self.arrays["user_embeddings"].shape[1]

    def validate(self) -> None:
        """Raise ValueError unless fitted with consistent float32 arrays; make them C-contiguous.

        The arrays are public attributes that users may assign: everything a
        kernel will index is checked here first.
        """
        if not self.is_fitted:
            raise ValueError("This LightFM model is not fitted yet: call fit() or fit_partial() before predicting.")
        for side in SIDES:
            embeddings = self.arrays[f"{side}_embeddings"]
            for kind in KINDS:
                name = f"{side}_{kind}"
                array = self.arrays[name]
                expected = embeddings.shape if kind.startswith("embedding") else embeddings.shape[:1]
                if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != expected:
                    raise ValueError(
                        f"{name} must be a float32 array of shape {expected}, got "
                        f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}."
                    )
                if not array.flags.c_contiguous:
                    self.arrays[name] = np.ascontiguousarray(array)
        if self.arrays["item_embeddings"].shape[1] != self.arrays["user_embeddings"].shape[1]:
            raise ValueError("user_embeddings and item_embeddings have different numbers of components.")

    def check_finite(self, adadelta: bool, epoch=None, scores: bool = True) -> None:
        """Raise ValueError once training has diverged.

        The criterion: a parameter or an optimiser accumulator in use is no
        longer a finite float32. An accumulator overflows when a squared
        gradient passes float32's range (3.4e38), which freezes its parameter
        for good even while the parameter itself is still finite. With
        ``scores``, also when the parameters are finite but their scores may
        not be (:meth:`score_bound` beyond :data:`SCORE_LIMIT`).
        """
        in_use = {name: a for name, a in self.arrays.items() if adadelta or not name.endswith("momentum")}
        when = f" in epoch {epoch}" if epoch is not None else ""
        if not all_finite(*in_use.values()):
            for name, array in in_use.items():
                if not all_finite(array):
                    raise ValueError(
                        f"Not all estimated parameters are finite ({name}): the model diverged{when}. "
                        "Try a lower learning_rate, or normalising feature values and sample weights."
                    )
        if scores and (bound := self.score_bound()) > SCORE_LIMIT:
            raise ValueError(
                f"Not all estimated parameters are finite as scores: the parameters themselves are, but "
                f"their products reach up to {bound:.3g}, past float32's range (3.4e38) once feature weights "
                f"multiply them: the model diverged{when}. Try a lower learning_rate, or normalising feature "
                "values and sample weights."
            )

    def score_bound(self) -> float:
        """A cheap upper bound on the absolute score of any user-item pair with identity features.

        ``no_components * max|user embedding| * max|item embedding| + max|user bias| + max|item bias|``
        (a dot product of two rows is at most the product of their norms, and a row's norm at most
        ``sqrt(no_components)`` times its largest value), in float64; a max and a min over each array,
        no temporaries. A feature matrix multiplies each side's term by at most its largest row sum of
        absolute weights.
        """

        def largest(array):
            return max(float(array.max()), -float(array.min())) if array.size else 0.0

        user, item = self.arrays["user_embeddings"], self.arrays["item_embeddings"]
        products = user.shape[1] * largest(user) * largest(item)
        return products + largest(self.arrays["user_biases"]) + largest(self.arrays["item_biases"])

    def grow(self, side: str, n_features: int, schedule: str, random_state) -> None:
        """Add rows up to ``n_features`` to one side, initialised as a fresh model's; old rows untouched."""
        extra = fresh_side(n_features - self.n_features(side), self.no_components, schedule, random_state)
        grown = (np.concatenate([old, new]) for old, new in zip(self.side(side), extra, strict=True))
        self.set_side(side, Side(*grown))
