"""A generated hybrid world: users with attributes, items with tags, and a planted preference structure."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._params import as_random_state

_GENRES = [
    "jazz", "rock", "classical", "hip-hop", "electronic", "folk", "metal", "pop",
    "blues", "reggae", "soul", "country", "ambient", "punk", "latin", "gospel",
]  # fmt: skip
_ADJECTIVES = [
    "Midnight", "Golden", "Silent", "Electric", "Velvet", "Broken", "Crimson", "Distant", "Hollow", "Neon",
    "Paper", "Quiet", "Restless", "Silver", "Wild", "Winter", "Burning", "Lonely", "Open", "Secret",
]  # fmt: skip
_NOUNS = [
    "Harbor", "Garden", "Highway", "Echo", "River", "Station", "Mirror", "Orchard", "Signal", "Tide",
    "Lantern", "Canyon", "Parade", "Window", "Compass", "Meadow", "Engine", "Island", "Letter", "Horizon",
]  # fmt: skip
_AGES = ["age:18-24", "age:25-34", "age:35-49", "age:50+"]


def _names(count: int, words_a: list, words_b: list, rs: np.random.RandomState) -> list:
    pairs = [f"{a} {b}" for a in words_a for b in words_b]
    order = rs.permutation(len(pairs))
    return [pairs[order[i % len(pairs)]] + (f" {i // len(pairs) + 1}" if i >= len(pairs) else "") for i in range(count)]


def _indicator(rows: np.ndarray, cols: np.ndarray, shape) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=shape)
    matrix.data[:] = 1.0  # repeated (row, column) pairs stay indicators
    return matrix


def make_synthetic(
    n_users=2000,
    n_items=1200,
    n_topics=8,
    interactions_per_user=(10, 60),
    test_fraction=0.2,
    cold_item_fraction=0.1,
    attribute_accuracy=0.85,
    random_state=None,
):
    """Generate a music-listening world with a planted preference structure and a cold-start split.

    Every user has a favourite genre (and some a second one); every album has
    one or two genre tags and a popularity. A user picks albums with
    probability growing with popularity and, much faster, with how well the
    album's tags match their genres. What a model can see:

    * user attributes ``likes:<genre>`` (the favourite genre, correct with
      probability ``attribute_accuracy``, else a random one) and ``age:<range>``
      (noise: unrelated to taste);
    * album tags ``genre:<genre>`` (exact) and ``decade:<decade>`` (noise).

    A fraction of the albums, the last ones, is *cold*: none of their
    interactions is in ``train``, so only their tags can place them (the
    cold-start problem). Train on the warm albums alone (the first columns) to
    mimic albums released after training.

    Parameters
    ----------
    n_users, n_items : int
        Numbers of users and albums.
    n_topics : int
        Number of genres (at most 16 are named; more get numbered names).
    interactions_per_user : (int, int)
        Each user has between these many interactions (inclusive).
    test_fraction : float
        Fraction of the warm interactions held out in ``test``.
    cold_item_fraction : float
        Fraction of the albums made cold.
    attribute_accuracy : float
        Probability that a user's ``likes:`` attribute is their true favourite.
    random_state : int or numpy.random.RandomState, optional
        Seed; the same seed gives the same world.

    Returns
    -------
    dict
        ``train``, ``test`` (warm albums) and ``cold_test`` (cold albums):
        float32 COO matrices [n_users, n_items] with disjoint entries;
        ``cold_items``: indices of the cold albums (the last ones); ``user_features``,
        ``item_features``: float32 CSR indicator matrices of the attributes and
        tags (no identity columns); ``user_feature_labels``,
        ``item_feature_labels``, ``user_labels``, ``item_labels``: NumPy
        string arrays naming the columns and rows.

    Examples
    --------
    >>> from lightfm.datasets import make_synthetic
    >>> world = make_synthetic(n_users=100, n_items=80, random_state=0)
    >>> world["train"].shape, world["item_features"].shape[0]
    ((100, 80), 80)
    >>> str(world["item_labels"][0]), str(world["item_feature_labels"][0])
    ('Lonely Echo', 'genre:jazz')
    >>> world["cold_test"].tocsr()[:, world["cold_items"]].nnz == world["cold_test"].nnz
    True
    """
    rs = as_random_state(random_state)
    low, high = interactions_per_user
    if not 1 <= low <= high <= n_items:
        raise ValueError(
            f"interactions_per_user must satisfy 1 <= low <= high <= n_items, got {interactions_per_user}."
        )
    for name, value in (("test_fraction", test_fraction), ("cold_item_fraction", cold_item_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
    genres = [_GENRES[t] if t < len(_GENRES) else f"genre-{t}" for t in range(n_topics)]

    # Tastes: a favourite genre (weight 1) and, for 40% of users, a second one (weight 0.5).
    favourite = rs.randint(n_topics, size=n_users)
    taste = np.zeros((n_users, n_topics))
    taste[np.arange(n_users), favourite] = 1.0
    second = rs.randint(n_topics, size=n_users)
    has_second = (rs.rand(n_users) < 0.4) & (second != favourite)
    taste[np.flatnonzero(has_second), second[has_second]] += 0.5
    # Albums: one genre tag, a second for 30%; popularity from a heavy tail.
    tags = np.zeros((n_items, n_topics))
    tags[np.arange(n_items), rs.randint(n_topics, size=n_items)] = 1.0
    extra = rs.randint(n_topics, size=n_items)
    with_extra = rs.rand(n_items) < 0.3
    tags[np.flatnonzero(with_extra), extra[with_extra]] = 1.0
    popularity = rs.pareto(1.5, n_items) + 1.0

    # Each user draws distinct albums with probability ~ popularity^0.5 * exp(4 * match):
    # the Gumbel top-k trick samples without replacement for every user at once.
    match = taste @ (tags / tags.sum(axis=1, keepdims=True)).T
    logits = 0.5 * np.log(popularity)[None, :] + 4.0 * match
    keys = logits + rs.gumbel(size=logits.shape)
    counts = rs.randint(low, high + 1, size=n_users)
    ranked = np.argsort(-keys, axis=1)
    keep = np.arange(n_items)[None, :] < counts[:, None]
    users = np.broadcast_to(np.arange(n_users)[:, None], ranked.shape)[keep]
    items = ranked[keep]

    # Items are exchangeable, so the last ones can be the cold ones: a model trained on
    # the warm items alone is then ``train.tocsc()[:, :n_warm]`` and item feature rows [:n_warm].
    n_warm = n_items - int(round(cold_item_fraction * n_items))
    cold_items = np.arange(n_warm, n_items)
    is_cold = items >= n_warm
    is_test = ~is_cold & (rs.rand(items.size) < test_fraction)
    is_train = ~is_cold & ~is_test
    shape = (n_users, n_items)

    def matrix(mask):
        return sp.coo_matrix((np.ones(mask.sum(), dtype=np.float32), (users[mask], items[mask])), shape=shape)

    # What the model sees: noisy "likes:" attributes, noise ages, exact genre tags, noise decades.
    liked = np.where(rs.rand(n_users) < attribute_accuracy, favourite, rs.randint(n_topics, size=n_users))
    age = rs.randint(len(_AGES), size=n_users)
    user_features = _indicator(
        np.concatenate([np.arange(n_users), np.arange(n_users)]),
        np.concatenate([liked, n_topics + age]),
        (n_users, n_topics + len(_AGES)),
    )
    decades = ["decade:1970s", "decade:1980s", "decade:1990s", "decade:2000s", "decade:2010s"]
    tag_rows, tag_cols = np.nonzero(tags)
    decade = rs.randint(len(decades), size=n_items)
    item_features = _indicator(
        np.concatenate([tag_rows, np.arange(n_items)]),
        np.concatenate([tag_cols, n_topics + decade]),
        (n_items, n_topics + len(decades)),
    )
    return {
        "train": matrix(is_train),
        "test": matrix(is_test),
        "cold_test": matrix(is_cold),
        "cold_items": cold_items,
        "user_features": user_features,
        "item_features": item_features,
        "user_feature_labels": np.array([f"likes:{g}" for g in genres] + _AGES),
        "item_feature_labels": np.array([f"genre:{g}" for g in genres] + decades),
        "user_labels": np.array([f"user{u}" for u in range(n_users)]),
        "item_labels": np.array(_names(n_items, _ADJECTIVES, _NOUNS, rs)),
    }
