"""The LightFM estimator: the public API over a model state (:mod:`lightfm._state`) and an engine
(:mod:`lightfm.backends`); see the README's "Architecture" section."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import scipy.sparse as sp

from . import _scoring
from ._explain import ExplainMixin
from ._foldin import FoldInMixin
from ._params import (
    as_random_state,
    check_sample_weight_loss,
    random_state_from_pickle,
    random_state_to_pickle,
    validate_hyperparameters,
)
from ._persistence import FIT_RECORD, MATRIX_NAMES, ModelFile, save_model
from ._serving import RecommenderMixin, check_representations
from ._state import PARAMETER_NAMES, SIDES, FitInputs, ModelState
from ._validation import (
    ParameterError,
    check_index_range,
    check_int,
    check_num_threads,
    is_int,
    n_rows,
    to_features,
    to_id_pairs,
    to_interactions,
    to_sample_weight,
)
from .backends import TrainingConfig, TrainingData, get_backend

__all__ = ["LightFM", "ParameterError"]


class LightFM(RecommenderMixin, FoldInMixin, ExplainMixin):
    """A hybrid latent representation recommender model (Kula, 2015).

    Users and items are represented by the sums of the latent embeddings (and
    biases) of their features; the score of a user-item pair is the dot product
    of the two representations plus both biases. Without feature matrices every
    user and item has one identity feature, and the model is classic matrix
    factorisation. Trained by Hogwild SGD in Numba-compiled kernels.

    Four losses are available:

    - ``'logistic'``: logistic regression on the interactions; entries > 0 are
      positives, entries <= 0 (e.g. 0 or -1 stored explicitly) negatives.
    - ``'bpr'``: Bayesian Personalised Ranking (Rendle et al. 2009); maximises
      the margin between a positive and a negative drawn from the training
      items' popularity distribution. Use when only positives are known and
      AUC matters.
    - ``'warp'``: Weighted Approximate-Rank Pairwise loss (Weston et al. 2011);
      samples negatives until one scores within the margin, weighting the update
      by the rank this implies. Best for precision at the top of the list.
    - ``'warp-kos'``: k-th order statistic WARP (Weston et al. 2013); trains on
      the k-th best of up to n items sampled from each user's own.

    What the ranking losses do with stored entries <= 0 (as the original
    LightFM does; see :meth:`fit`): they are never examples, but they still
    count as the user's own items, which are never drawn as that user's
    negatives.

    Parameters
    ----------
    no_components : int, default 10
        Dimensionality of the feature latent embeddings.
    k : int, default 5
        For k-OS training, the k-th positive example is selected from the n
        positive examples sampled for every user.
    n : int, default 10
        For k-OS training, the maximum number of positives sampled per update.
    learning_schedule : {'adagrad', 'adadelta'}, default 'adagrad'
        The per-parameter learning-rate schedule (Duchi et al. 2011; Zeiler 2012).
    loss : {'logistic', 'bpr', 'warp', 'warp-kos'}, default 'logistic'
        The loss function.
    learning_rate : float, default 0.05
        Initial learning rate for the adagrad schedule.
    rho : float, default 0.95
        Moving-average decay for the adadelta schedule, in (0, 1).
    epsilon : float, default 1e-6
        Conditioning constant for the adadelta schedule, >= 0.
    item_alpha : float, default 0.0
        L2 penalty on item features, applied lazily as weight decay: after each
        training step every item parameter shrinks by a factor
        ``1 / (1 + item_alpha * r)``, with ``r`` the mean adagrad/adadelta
        learning rate over the parameters the step updated (users' and items').
    user_alpha : float, default 0.0
        L2 penalty on user features, likewise.
    max_sampled : int, default 10
        Maximum number of negatives WARP draws per positive.
    random_state : int, numpy.random.RandomState or None, default None
        Seed or generator for initialisation and sampling.
    device : {'cpu', 'cuda'}, default 'cpu'
        The engine that trains and scores (XGBoost's convention). ``'cuda'``
        needs an NVIDIA GPU and the ``cuda`` extra; without them it raises
        :class:`ParameterError` at use, saying what is missing. The
        parameters are NumPy arrays either way, so a model trained on one
        device is saved, served or trained further on the other.

    Attributes
    ----------
    item_embeddings : np.float32 array of shape [n_item_features, no_components]
        Latent vectors of the item features.
    item_biases : np.float32 array of shape [n_item_features,]
        Biases of the item features.
    user_embeddings : np.float32 array of shape [n_user_features, no_components]
        Latent vectors of the user features.
    user_biases : np.float32 array of shape [n_user_features,]
        Biases of the user features.
    item_embedding_gradients, item_bias_gradients, user_embedding_gradients, user_bias_gradients : np.float32 arrays
        Optimiser accumulators of squared gradients (start at 1 for adagrad).
    item_embedding_momentum, item_bias_momentum, user_embedding_momentum, user_bias_momentum : np.float32 arrays
        Adadelta accumulators of squared steps.

    Raises
    ------
    ParameterError
        A ValueError (and AssertionError) naming any invalid hyperparameter.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> interactions = sp.coo_matrix(np.eye(4, dtype=np.float32))
    >>> model = LightFM(no_components=4, loss="warp", random_state=42)
    >>> model = model.fit(interactions, epochs=5)
    >>> model.predict(0, np.arange(4)).shape
    (4,)
    >>> LightFM(loss="hinge")
    Traceback (most recent call last):
    ...
    lightfm.ParameterError: Invalid loss='hinge': must be one of 'logistic', 'warp', 'bpr', 'warp-kos'.
    """

    def __init__(
        self,
        no_components=10,
        k=5,
        n=10,
        learning_schedule="adagrad",
        loss="logistic",
        learning_rate=0.05,
        rho=0.95,
        epsilon=1e-6,
        item_alpha=0.0,
        user_alpha=0.0,
        max_sampled=10,
        random_state=None,
        device="cpu",
    ):
        validate_hyperparameters(dict(locals()))
        self.loss = loss
        self.learning_schedule = learning_schedule
        self.no_components = no_components
        self.learning_rate = learning_rate
        self.k = k
        self.n = n
        self.rho = rho
        self.epsilon = epsilon
        self.max_sampled = max_sampled
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        # The seed as given (RecTools' LightFM fork keeps it under this name, to write model configs):
        # random_state itself becomes a generator that training advances.
        self.initial_random_state = random_state
        self.random_state = as_random_state(random_state)
        self.device = device
        self._reset_state()

    # -- state -----------------------------------------------------------------

    def __getstate__(self):
        # The arrays as attributes, as in 0.1.0 and the original: such pickles load anywhere, and
        # copy.copy gives the copy a state of its own.
        state = {name: value for name, value in self.__dict__.items() if name != "_state"}
        for name in ("random_state", "initial_random_state"):
            if name in state:
                state[name] = random_state_to_pickle(state[name])
        state.update(self._state.arrays)
        # What each side was fit with, its feature matrix as the CSR alone (not the kernels' copies).
        state["_fit_inputs"] = {
            side: None if inputs is None else (*inputs[:3], None if inputs.features is None else inputs.features.matrix)
            for side, inputs in self._state.fit_inputs.items()
        }
        return state

    def __setstate__(self, state):
        # Pickles of earlier versions (and of the original LightFM) hold the arrays as attributes.
        arrays = {name: state.pop(name) for name in PARAMETER_NAMES if name in state}
        fit_inputs = state.pop("_fit_inputs", None) or {}
        self.__dict__.update(state)
        for name in ("random_state", "initial_random_state"):
            if name in self.__dict__:
                self.__dict__[name] = random_state_from_pickle(self.__dict__[name])
        self.__dict__.setdefault("device", "cpu")  # pickles from before the GPU engine
        self.__dict__.setdefault("initial_random_state", None)  # the seed is not known
        if "_state" not in self.__dict__:
            self._state = ModelState(arrays)
            for side, inputs in fit_inputs.items():
                if inputs is not None:
                    n_ids, identity, n_features, matrix = inputs
                    features = None if matrix is None else to_features(matrix, 0, f"{side}_features")
                    self._state.fit_inputs[side] = FitInputs(n_ids, identity, n_features, features)

    def _reset_state(self):
        self._state = ModelState()

    def _backend(self):
        return get_backend(self.device)

    def _served_features(self, side: str, method: str):
        """The feature matrix ``side`` was fit with (``FeatureMatrix``; ``.matrix`` None for identity).

        Package-internal, for engines that serve a fitted model elsewhere (:mod:`lightfm.dask`):
        refuses (ValueError naming ``method``) a side fit with features the model no longer holds,
        as :meth:`recommend` does.
        """
        self._state.validate()
        return _scoring.served_features(self._state, None, side, method)

    # -- training --------------------------------------------------------------

    def fit(
        self,
        interactions,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=1,
        num_threads=1,
        verbose=False,
    ):
        """Fit the model from scratch.

        Discards any previous state and trains for ``epochs`` epochs. For
        resuming training use :meth:`fit_partial`. If it raises (bad input,
        divergence, an interrupt), the model keeps the state it had before.

        Parameters
        ----------
        interactions : scipy sparse matrix of shape [n_users, n_items]
            Any format and numeric dtype (converted to float32 COO). What each
            loss does with the stored entries, as in the original LightFM:

            - ``'logistic'``: every entry is an example, > 0 a positive and
              <= 0 (an explicit 0 or -1) a negative.
            - ``'warp'``, ``'bpr'``: every entry > 0 is an example. Every
              stored entry, whatever its value, is one of the user's own
              items, never drawn as that user's negative: an item a user rated
              -1 is simply not trained on for them. WARP draws negatives
              uniformly over the items; BPR from the items of all stored
              entries (an item as often as it is stored, -1 entries included).
            - ``'warp-kos'``: every stored entry is a visit to its user, who
              is trained on the k-th best of up to ``n`` items drawn from their
              own items (-1 entries included); negatives as for WARP.

            To train the ranking losses on positives only, remove the other
            entries first (``matrix.data[matrix.data <= 0] = 0;
            matrix.eliminate_zeros()`` on a CSR matrix).
        user_features : scipy sparse matrix of shape [n_users, n_user_features], optional
            Each row holds that user's feature weights. Identity if absent.
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Each row holds that item's feature weights. Identity if absent.
        sample_weight : scipy sparse matrix of shape [n_users, n_items], optional
            Weights (>= 0) of the interactions, with exactly the same entries in
            the same COO order. Not supported for ``'warp-kos'``.
        epochs : int, default 1
            Number of passes over the interactions.
        num_threads : int, default 1
            Threads for Hogwild training. With 1 thread and a fixed
            ``random_state`` training is reproducible bit for bit.
        verbose : bool, default False
            Show a progress bar over epochs.

        Returns
        -------
        LightFM
            The fitted model (``self``).

        Raises
        ------
        ValueError
            On non-finite input, mismatched shapes, bad sample weights, or
            divergence during training: a parameter or optimiser accumulator
            that is no longer a finite float32 (NaN, or a squared gradient
            beyond float32's range), or parameters whose scores could overflow
            float32 (:meth:`lightfm._state.ModelState.score_bound` beyond
            2**96, leaving 2**32 for feature weights). Strong regularisation
            can diverge too: its lazy scheme, the original's, grows
            representations within an epoch, and where the original's models
            blow up (alphas near 1e-2 with the logistic loss, for one) so may
            these.
        NotImplementedError
            If ``sample_weight`` is given with the ``'warp-kos'`` loss.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> interactions = sp.random(20, 10, density=0.3, format="coo", random_state=0)
        >>> model = LightFM(no_components=3, random_state=0).fit(interactions, epochs=2)
        >>> model.user_embeddings.shape, model.item_embeddings.shape
        ((20, 3), (10, 3))
        """
        # Training starts from fresh arrays, so the previous ones are intact if it fails.
        previous = self._state
        random_state = self.random_state.get_state() if isinstance(self.random_state, np.random.RandomState) else None
        self._reset_state()
        try:
            return self.fit_partial(
                interactions,
                user_features=user_features,
                item_features=item_features,
                sample_weight=sample_weight,
                epochs=epochs,
                num_threads=num_threads,
                verbose=verbose,
            )
        except BaseException:
            self._state = previous
            if random_state is not None:
                self.random_state.set_state(random_state)
            raise

    def fit_partial(
        self,
        interactions,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=1,
        num_threads=1,
        verbose=False,
    ):
        """Fit the model, resuming from its current state.

        Unlike :meth:`fit`, repeated calls continue training. The arguments are
        those of :meth:`fit`; feature matrices must have as many columns as the
        model has embeddings.

        Returns
        -------
        LightFM
            The fitted model (``self``).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> interactions = sp.random(20, 10, density=0.3, format="csr", random_state=0)
        >>> model = LightFM(loss="bpr", random_state=0)
        >>> for _ in range(3):
        ...     model = model.fit_partial(interactions)
        """
        check_int(epochs, "epochs", minimum=0)
        num_threads = check_num_threads(num_threads)
        # Hyperparameters are public attributes: checked again, as the constructor checks them.
        validate_hyperparameters(self.get_params(), fitting=True)
        self.random_state = as_random_state(self.random_state)  # a seed may have been assigned
        data = to_interactions(interactions)
        n_users, n_items = data.shape
        check_sample_weight_loss(self.loss, sample_weight is not None)
        weights = to_sample_weight(sample_weight, data) if sample_weight is not None else None
        users = to_features(user_features, n_users, "user_features")
        items = to_features(item_features, n_items, "item_features")

        if self.item_embeddings is None:
            # Through the method, as the original does: subclasses override it to start from given embeddings.
            self._initialize(self.no_components, items.n_features, users.n_features)
        self._state.validate()
        if self.user_embeddings.shape[1] != self.no_components:
            raise ValueError(
                f"no_components is {self.no_components} but the fitted embeddings have "
                f"{self.user_embeddings.shape[1]} components; call fit() to retrain from scratch."
            )
        _scoring.check_feature_columns(self._state, users, "user", exact=True)
        _scoring.check_feature_columns(self._state, items, "item", exact=True)

        data = TrainingData(data.rows, data.cols, data.data, weights, users.arrays, items.arrays, n_users, n_items)
        config = TrainingConfig(*(getattr(self, name) for name in TrainingConfig._fields))
        # The engines check for divergence (non-finite arrays, scores past float32) as they train.
        self._backend().fit_epochs(self._state, data, config, epochs, num_threads, self.random_state, verbose)
        # Kept by reference, to serve with when no features are passed (see recommend).
        for side, n_ids, features in (("user", n_users, users), ("item", n_items, items)):
            kept = None if features.identity else features
            self._state.fit_inputs[side] = FitInputs(n_ids, features.identity, features.n_features, kept)
        return self

    def _initialize(self, no_components, no_item_features, no_user_features):
        """Create the parameters of a model's first fit (the original LightFM's hook).

        :meth:`fit` and :meth:`fit_partial` call it once, when the model has no
        parameters yet, after checking their input and before training. It
        draws the item embeddings and then the user embeddings from
        ``random_state``, each uniform in ``[-0.5, 0.5) / no_components``, and
        sets biases to 0 and the optimiser accumulators to their start (1 for
        adagrad's, 0 for adadelta's). A subclass may override it to start from
        given parameters: call ``super()._initialize(...)``, then assign
        ``self.item_embeddings`` and the like (float32 arrays of the same shapes).

        Parameters
        ----------
        no_components : int
            Embedding dimension.
        no_item_features, no_user_features : int
            Embedding rows of each side (the feature matrices' columns).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> class Zeros(LightFM):
        ...     def _initialize(self, no_components, no_item_features, no_user_features):
        ...         super()._initialize(no_components, no_item_features, no_user_features)
        ...         self.item_embeddings = np.zeros((no_item_features, no_components), dtype=np.float32)
        >>> model = Zeros(no_components=2, random_state=0).fit(sp.coo_matrix(np.eye(3)), epochs=0)
        >>> model.item_embeddings
        array([[0., 0.],
               [0., 0.],
               [0., 0.]], dtype=float32)
        """
        fresh = ModelState.fresh(
            no_components, no_user_features, no_item_features, self.learning_schedule, self.random_state
        )
        for side in SIDES:
            self._state.set_side(side, fresh.side(side))

    # -- prediction ------------------------------------------------------------

    def predict(
        self, user_ids, item_ids, item_features=None, user_features=None, num_threads=1, *, user_representations=None
    ):
        """Compute the scores of user-item pairs.

        The i-th score is that of the pair ``(user_ids[i], item_ids[i])``.
        Ids are LightFM's internal indices (rows of the interaction matrix).

        Parameters
        ----------
        user_ids : int or array-like of int of shape [n_pairs,]
            A single user id (scored against every item in ``item_ids``) or one
            user id per pair.
        item_ids : array-like of int of shape [n_pairs,]
            One item id per pair.
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Item features, one column per item feature embedding: pass the
            training ones if the model was trained with features. Without,
            as in the original LightFM, the identity over the feature rows
            (feature row i scored as item i); for a model fit with item
            features the first such call warns.
        user_features : scipy sparse matrix of shape [n_users, n_user_features], optional
            User features, likewise.
        num_threads : int, default 1
            Threads for scoring.
        user_representations : (biases, embeddings), optional
            Users given by their representations instead of the model's rows,
            as :meth:`fold_in_users` returns them; ``user_ids`` then index
            their rows, and ``user_features`` must be left out.

        Returns
        -------
        np.float32 array of shape [n_pairs,]
            The scores; only their order is meaningful for the ranking losses.

        Raises
        ------
        ValueError
            Before fitting, on mismatched lengths, ids out of range, or a
            feature matrix without one column per feature embedding.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
        >>> model.predict([0, 1], [2, 2]).dtype
        dtype('float32')
        >>> model.predict(0, [0, 1, 2]).shape
        (3,)
        """
        self._state.validate()
        num_threads = check_num_threads(num_threads)
        user_ids, item_ids = to_id_pairs(user_ids, item_ids)
        if user_representations is not None:
            return self._predict_represented(user_ids, item_ids, item_features, user_features, user_representations,
                                             num_threads)  # fmt: skip
        n_users = self.user_embeddings.shape[0] if user_features is None else n_rows(user_features, "user_features")
        n_items = self.item_embeddings.shape[0] if item_features is None else n_rows(item_features, "item_features")
        check_index_range(user_ids, n_users, "user_ids", "user id")
        check_index_range(item_ids, n_items, "item_ids", "item id")
        # Identity features cover exactly the ids asked for; explicit ones must have their rows.
        users, items = _scoring.both_sides(
            self._state,
            user_features,
            item_features,
            int(user_ids.max()) + 1 if user_ids.size else 0,
            int(item_ids.max()) + 1 if item_ids.size else 0,
        )

        self._warn_identity_default("predict", {"user_features": user_features, "item_features": item_features})
        user_rows, user_index = _scoring.rows_for(users, user_ids)
        item_rows, item_index = _scoring.rows_for(items, item_ids)
        user_repr, user_bias = _scoring.representations(self._state, users, "user", user_rows)
        item_repr, item_bias = _scoring.representations(self._state, items, "item", item_rows)
        return self._backend().predict_pairs(
            user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads
        )

    def _predict_represented(self, user_ids, item_ids, item_features, user_features, user_representations,
                             num_threads):  # fmt: skip
        """``predict`` of users given by their representations (see ``user_representations``)."""
        user_bias, user_repr = check_representations(self._state, user_representations, user_features, "predict")
        check_index_range(user_ids, user_bias.size, "user_ids", "row of user_representations")
        n_items = self.item_embeddings.shape[0] if item_features is None else n_rows(item_features, "item_features")
        check_index_range(item_ids, n_items, "item_ids", "item id")
        items = _scoring.both_sides(
            self._state, None, item_features, 0, int(item_ids.max()) + 1 if item_ids.size else 0
        )[1]
        self._warn_identity_default("predict", {"item_features": item_features})
        item_rows, item_index = _scoring.rows_for(items, item_ids)
        item_repr, item_bias = _scoring.representations(self._state, items, "item", item_rows)
        return self._backend().predict_pairs(
            user_repr, user_bias, user_ids, item_repr, item_bias, item_index, num_threads
        )

    def _warn_identity_default(self, method, features, stacklevel=3):
        """Warn, once per model, when a side fit with features is scored by the identity default.

        ``features`` maps the argument names ``"user_features"`` / ``"item_features"`` to what was passed.
        """
        left_out = [
            name
            for name, matrix in features.items()
            if matrix is None and _scoring.fit_with_features(self._state, name.split("_")[0])
        ]
        if not left_out or self.__dict__.get("_warned_identity_default"):
            return
        self._warned_identity_default = True
        warnings.warn(
            f"This model was fit with {' and '.join(left_out)}, but {method} was called without them: as in the "
            "original LightFM it scores the identity over the feature rows (feature row i as id i), rarely what "
            f"is meant. Pass {' and '.join(left_out)} (the matrices it was fit with), or an explicit "
            "scipy.sparse.identity(n_features) to score feature rows knowingly. Warned once per model.",
            UserWarning,
            stacklevel=stacklevel,
        )

    def predict_rank(
        self,
        test_interactions,
        train_interactions=None,
        item_features=None,
        user_features=None,
        num_threads=1,
        check_intersections=True,
    ):
        """Rank each test interaction among all items for its user.

        For every stored entry ``(u, i)`` of ``test_interactions``, the rank is
        the number of other items that user ``u`` did not interact with in
        ``train_interactions`` and that score at least as high as ``i`` (0 is
        the top of the list). Users are scored in blocks with one BLAS product.

        Parameters
        ----------
        test_interactions : scipy sparse matrix of shape [n_users, n_items]
            Entries whose ranks are computed.
        train_interactions : scipy sparse matrix of shape [n_users, n_items], optional
            Entries excluded from the ranking (typically the training set).
        item_features, user_features : scipy sparse matrices, optional
            As in :meth:`predict`.
        num_threads : int, default 1
            Threads for ranking.
        check_intersections : bool, default True
            Raise ValueError if test and train share entries.

        Returns
        -------
        np.float32 csr_matrix of shape [n_users, n_items]
            Ranks at the positions of the test entries.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.coo_matrix(np.eye(4))
        >>> model = LightFM(random_state=0).fit(train)
        >>> ranks = model.predict_rank(sp.csr_matrix(np.fliplr(np.eye(4))), train)
        >>> bool(ranks.data.max() <= 2)
        True
        """
        num_threads = check_num_threads(num_threads)
        ranks = _scoring.rank_test_interactions(
            self._state,
            self._backend(),
            test_interactions,
            train_interactions,
            item_features,
            user_features,
            num_threads,
            check_intersections,
        )[0]
        # Only once ranked: left-out features are mostly refused by the width check, with no warning due.
        self._warn_identity_default("predict_rank", {"user_features": user_features, "item_features": item_features})
        return ranks

    def get_item_representations(self, features=None):
        """Latent representations of items: the feature-weighted sums of embeddings and biases.

        Parameters
        ----------
        features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Item features, one column per item feature embedding. Without,
            the identity: the representation of each feature row (as in the
            original; for a model fit with item features the first such call
            warns, as :meth:`predict` does).

        Returns
        -------
        (item_biases, item_embeddings) :
            np.float32 arrays of shape [n_items,] and [n_items, no_components].
            The score of a pair is ``user_embeddings[u] @ item_embeddings[i] + user_biases[u] + item_biases[i]``.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(no_components=2, random_state=0).fit(sp.coo_matrix(np.eye(3)))
        >>> biases, embeddings = model.get_item_representations()
        >>> embeddings.shape
        (3, 2)
        """
        return self._public_representations(features, "item")

    def get_user_representations(self, features=None):
        """Latent representations of users: the feature-weighted sums of embeddings and biases.

        Parameters
        ----------
        features : scipy sparse matrix of shape [n_users, n_user_features], optional
            User features; without, the identity, as :meth:`get_item_representations`.

        Returns
        -------
        (user_biases, user_embeddings) :
            np.float32 arrays of shape [n_users,] and [n_users, no_components].

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(no_components=2, random_state=0).fit(sp.coo_matrix(np.eye(3)))
        >>> biases, embeddings = model.get_user_representations()
        >>> biases.shape
        (3,)
        """
        return self._public_representations(features, "user")

    def _public_representations(self, features, side):
        self._state.validate()
        matrix = _scoring.side_features(self._state, features, side)
        self._warn_identity_default(f"get_{side}_representations", {f"{side}_features": features}, stacklevel=4)
        embeddings, biases = _scoring.representations(self._state, matrix, side)
        return biases.copy(), embeddings.copy()

    # -- growing, saving and loading ----------------------------------------------

    def resize(self, n_user_features=None, n_item_features=None):
        """Grow the embedding tables of a fitted model to more user and/or item features.

        Existing rows and their optimiser state are untouched; new rows are
        initialised as a fresh model's would be (small random embeddings, zero
        biases, fresh accumulators). Use it when new users, items or features
        join a trained model (for example after :meth:`Dataset.fit_partial
        <lightfm.data.Dataset.fit_partial>`), then continue with :meth:`fit_partial`.
        With identity features, the feature counts are the user and item counts.
        A side fit with a feature matrix is then served only with the wider
        matrix passed explicitly (or kept by the next :meth:`fit_partial`).

        Parameters
        ----------
        n_user_features, n_item_features : int, optional
            New numbers of user / item feature embeddings (at least the current
            ones); None leaves that side as it is.

        Returns
        -------
        LightFM
            ``self``.

        Raises
        ------
        ValueError
            Before fitting, or for a number below the current one.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(no_components=4, random_state=0).fit(sp.random(10, 6, density=0.5, random_state=0))
        >>> before = model.predict(0, np.arange(6))
        >>> model = model.resize(n_user_features=12, n_item_features=8)
        >>> model.user_embeddings.shape, model.item_embeddings.shape
        ((12, 4), (8, 4))
        >>> bool(np.array_equal(model.predict(0, np.arange(6)), before))
        True
        """
        self._state.validate()
        for side, target in (("user", n_user_features), ("item", n_item_features)):
            if target is None:
                continue
            current = getattr(self, f"{side}_embeddings").shape[0]
            if not is_int(target) or target < current:
                raise ValueError(
                    f"n_{side}_features must be an integer >= the current {current} {side} feature embeddings "
                    f"(models only grow), got {target!r}."
                )
            self._state.grow(side, target, self.learning_schedule, self.random_state)
        return self

    def save(self, path, dataset=None, *, user_features=None, item_features=None, interactions=None):
        """Save the model to one ``.npz`` file, without pickle.

        The file holds the hyperparameters (as JSON), every parameter and
        optimiser array and the random state, so :meth:`load` restores a model
        whose predictions and further single-threaded training are bit-for-bit
        those of this one. It is written to a temporary file and renamed, so an
        interrupted save never leaves a half-written model at ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write (used exactly as given; ``.npz`` is the convention).
        dataset : lightfm.data.Dataset, optional
            A dataset whose id and feature mappings are stored alongside;
            read them back with :meth:`Dataset.load <lightfm.data.Dataset.load>`.
        user_features, item_features : scipy sparse matrix, optional
            Feature matrices to serve the model with, stored alongside. By
            default, for a side fit with a feature matrix, the one it was
            last fit with. :meth:`load` restores them as the features the
            loaded model serves with, so its :meth:`recommend` and
            :meth:`similar_items` need no feature arguments either.
        interactions : scipy sparse matrix, optional
            The training interactions (for excluding seen items when
            recommending), stored alongside. Read all three back with
            :meth:`load_matrices`.

        Raises
        ------
        ValueError
            If a hyperparameter was set to an invalid value directly, a
            parameter array holds NaN or infinity (the error training
            divergence raises: such a file could not be loaded), or a matrix
            does not fit the model.

        Examples
        --------
        >>> import os, tempfile, numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(loss="warp", random_state=0).fit(sp.random(10, 6, density=0.5, random_state=0))
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model.save(path)
        >>> restored = LightFM.load(path)
        >>> bool(np.array_equal(restored.item_embeddings, model.item_embeddings))
        True
        """
        # The device is where this process computes, not part of the model: a GPU-trained model loads
        # for CPU serving anywhere (set_params(device="cuda") moves it back).
        hyperparameters = {
            name: value for name, value in self.get_params().items() if name not in ("random_state", "device")
        }
        try:
            validate_hyperparameters({**hyperparameters, "random_state": None})
        except ParameterError as error:
            raise ValueError(f"Cannot save a model with invalid hyperparameters: {error}") from None
        # NumPy scalars (from a parameter search, say) become plain JSON numbers.
        hyperparameters = {
            name: value.item() if isinstance(value, np.generic) else value for name, value in hyperparameters.items()
        }
        parameters = None
        if self._state.is_fitted:
            self._state.validate()
            # load() refuses non-finite arrays: never write a file that cannot be read back.
            self._state.check_finite(adadelta=self.learning_schedule == "adadelta", scores=False)
            parameters = self._state.arrays
        dataset_json = dataset.to_json() if dataset is not None else None
        matrices = self._matrices_to_save(user_features, item_features, interactions)
        seed = self.initial_random_state
        metadata = {
            "fit_inputs": {
                side: None if inputs is None else {name: getattr(inputs, name) for name in FIT_RECORD}
                for side, inputs in self._state.fit_inputs.items()
            },
            # An int seed only: a RandomState passed as random_state has no seed to write down.
            "initial_random_state": int(seed) if is_int(seed) and 0 <= seed < 2**32 else None,
        }
        save_model(path, hyperparameters, self.random_state, parameters, dataset_json, matrices, metadata)

    def _matrices_to_save(self, user_features, item_features, interactions):
        matrices = {}
        for side, features in (("user", user_features), ("item", item_features)):
            if features is None:
                # By default the matrix the side was fit with, so that the loaded model serves as this one.
                inputs = self._state.fit_inputs[side] if self._state.is_fitted else None
                kept = None if inputs is None else inputs.features
                if kept is not None and kept.n_features == self._state.n_features(side):
                    matrices[f"{side}_features"] = kept.matrix
                continue
            matrix = to_features(features, 0, f"{side}_features")
            if self._state.is_fitted:
                _scoring.check_feature_columns(self._state, matrix, side, exact=True)
            identity = sp.identity(matrix.n_rows, dtype=np.float32, format="csr")
            matrices[f"{side}_features"] = identity if matrix.matrix is None else matrix.matrix
        if interactions is not None:
            data = to_interactions(interactions)
            csr = sp.csr_matrix((data.data, (data.rows, data.cols)), shape=data.shape, dtype=np.float32)
            matrices["interactions"] = csr
        return matrices

    @staticmethod
    def load_matrices(path):
        """The matrices saved alongside a model by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        dict
            ``"user_features"``, ``"item_features"`` and ``"interactions"``
            (float32 CSR matrices) for those that were saved.

        Examples
        --------
        >>> import os, tempfile, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(10, 6, density=0.5, format="csr", random_state=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> LightFM(random_state=0).fit(train).save(path, interactions=train)
        >>> sorted(LightFM.load_matrices(path))
        ['interactions']
        """
        with ModelFile(path) as file:
            matrices = {name: file.csr(name) for name in MATRIX_NAMES}
        return {name: matrix for name, matrix in matrices.items() if matrix is not None}

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`.

        Nothing in the file is executed (arrays are read with
        ``allow_pickle=False``), and every array is checked before use.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        LightFM
            The restored model, serving with the feature matrices saved with
            it (see :meth:`save`), its ``initial_random_state`` the seed it
            was created with (None where that was not an integer).

        Raises
        ------
        ValueError
            Naming what is wrong with a file that is not a model, is truncated
            or corrupt, has an unknown format version, or holds a missing,
            mis-shaped, mis-typed or non-finite array or invalid hyperparameters.
        """
        with ModelFile(path) as file:
            metadata = file.json("metadata")
            hyperparameters = metadata.get("hyperparameters") if isinstance(metadata, dict) else None
            expected = set(cls._param_names()) - {"random_state", "device"}
            if not isinstance(hyperparameters, dict) or set(hyperparameters) != expected:
                raise ValueError(f"{file.path}: 'metadata' must hold the hyperparameters {sorted(expected)}.")
            try:
                model = cls(**hyperparameters)
            except ParameterError as error:
                raise ValueError(f"{file.path}: invalid hyperparameters: {error}") from None
            model.random_state = file.random_state(metadata)
            model.initial_random_state = file.initial_random_state(metadata)
            if metadata.get("fitted"):
                model._state = file.state(model.no_components)
                model._state.fit_inputs = file.fit_inputs(metadata, model._state)
        return model

    # -- scikit-learn protocol -------------------------------------------------

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep=True):
        """Get the hyperparameters of the model.

        Parameters
        ----------
        deep : bool, default True
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        dict
            Hyperparameter names mapped to their values.

        Examples
        --------
        >>> from lightfm import LightFM
        >>> LightFM(no_components=7).get_params()["no_components"]
        7
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters, validating them as the constructor does.

        Returns
        -------
        LightFM
            ``self``.

        Raises
        ------
        ValueError
            For an unknown name (and :class:`ParameterError` for an invalid value).

        Examples
        --------
        >>> from lightfm import LightFM
        >>> LightFM().set_params(loss="warp").loss
        'warp'
        """
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {', '.join(valid)}."
                )
        merged = self.get_params()
        merged.update(params)
        validate_hyperparameters(merged)
        for name, value in params.items():
            setattr(self, name, as_random_state(value) if name == "random_state" else value)
        if "random_state" in params:
            self.initial_random_state = params["random_state"]
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (model selection asks for them); sklearn is optional."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            input_tags=InputTags(sparse=True),
            non_deterministic=True,
        )

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if name != "random_state" and value != defaults[name].default
        ]
        return f"LightFM({', '.join(changed)})"


def _state_attribute(name):
    def get(self):
        return self._state.arrays[name]

    def set(self, value):
        if "_state" not in self.__dict__:  # assigned before LightFM.__init__ ran (a subclass)
            self._state = ModelState()
        self._state.arrays[name] = value

    def delete(self):
        self._state.arrays[name] = None

    return property(
        get, set, delete, doc=f"The model's ``{name}`` array (see :mod:`lightfm._state`); None before fitting."
    )


for _name in PARAMETER_NAMES:
    setattr(LightFM, _name, _state_attribute(_name))
