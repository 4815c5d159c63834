"""``LightFM.explain``: scores split into biases and (user feature, item feature) contributions.

The oracle is brute force from the model's raw arrays: every pair of features with non-zero
weights, ``w_uf * w_ig * (user_embeddings[f] . item_embeddings[g])``, in float64.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm import LightFM
from lightfm._explain import Contribution, Explanation
from lightfm.data import Dataset

N_USERS, N_ITEMS = 24, 18
LOSSES = ("logistic", "bpr", "warp", "warp-kos")


def interactions(seed=0):
    rs = np.random.RandomState(seed)
    return sp.coo_matrix((rs.rand(N_USERS, N_ITEMS) < 0.3).astype(np.float32))


def metadata(n_rows, n_shared, seed):
    """Identity plus ``n_shared`` shared features (each row 1 or 2 of them), rows summing to 1."""
    rs = np.random.RandomState(seed)
    shared = np.zeros((n_rows, n_shared), dtype=np.float32)
    shared[np.arange(n_rows), rs.randint(0, n_shared, n_rows)] = 1.0
    shared[np.arange(n_rows), rs.randint(0, n_shared, n_rows)] += 0.5  # sometimes the same one again
    dense = np.hstack([np.eye(n_rows, dtype=np.float32), shared])
    return sp.csr_matrix(dense / dense.sum(axis=1, keepdims=True))


def oracle(model, user, item, user_features, item_features):
    """``({(f, g): contribution}, user bias, item bias)`` from the raw arrays, by brute force."""
    wu = np.eye(model.user_embeddings.shape[0])[user] if user_features is None else user_features.toarray()[user]
    wi = np.eye(model.item_embeddings.shape[0])[item] if item_features is None else item_features.toarray()[item]
    wu, wi = wu.astype(np.float64), wi.astype(np.float64)  # the float32 weights, multiplied in float64
    user_embeddings = model.user_embeddings.astype(np.float64)
    item_embeddings = model.item_embeddings.astype(np.float64)
    pairs = {}
    for f in np.flatnonzero(wu):
        for g in np.flatnonzero(wi):
            pairs[(int(f), int(g))] = wu[f] * wi[g] * float(user_embeddings[f] @ item_embeddings[g])
    user_bias = float(wu @ model.user_biases.astype(np.float64))
    item_bias = float(wi @ model.item_biases.astype(np.float64))
    return pairs, user_bias, item_bias


@pytest.fixture(scope="module", params=LOSSES)
def fitted(request):
    """``{kind: (model, user_features, item_features)}`` for identity and metadata features, per loss."""
    train = interactions()
    models = {}
    for kind in ("identity", "metadata"):
        users = metadata(N_USERS, 3, seed=1) if kind == "metadata" else None
        items = metadata(N_ITEMS, 4, seed=2) if kind == "metadata" else None
        model = LightFM(no_components=5, loss=request.param, learning_rate=0.1, random_state=0)
        model.fit(train, user_features=users, item_features=items, epochs=3)
        models[kind] = (model, users, items)
    return models


@pytest.mark.parametrize("kind", ["identity", "metadata"])
def test_every_pair_and_both_biases_sum_to_predict(fitted, kind):
    model, users, items = fitted[kind]
    every_item = np.arange(N_ITEMS)
    for user in (0, 7, N_USERS - 1):
        predicted = model.predict(user, every_item, user_features=users, item_features=items)
        explained = model.explain(user, every_item, top=None)
        assert [e.item for e in explained] == every_item.tolist()
        for explanation, score in zip(explained, predicted, strict=True):
            pairs, user_bias, item_bias = oracle(model, user, explanation.item, users, items)
            assert explanation.user == user and explanation.rest == 0.0
            assert explanation.n_pairs == len(explanation.pairs) == len(pairs)
            found = {(p.user_feature, p.item_feature): p.contribution for p in explanation.pairs}
            assert found.keys() == pairs.keys()
            np.testing.assert_allclose([found[key] for key in pairs], list(pairs.values()), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose([explanation.user_bias, explanation.item_bias], [user_bias, item_bias],
                                       rtol=1e-9, atol=1e-12)  # fmt: skip
            total = explanation.user_bias + explanation.item_bias + sum(p.contribution for p in explanation.pairs)
            np.testing.assert_allclose(total, explanation.score, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(explanation.score, score, rtol=1e-5, atol=1e-5)
            magnitudes = [abs(p.contribution) for p in explanation.pairs]
            assert magnitudes == sorted(magnitudes, reverse=True)


@pytest.mark.parametrize("kind", ["identity", "metadata"])
def test_the_top_pairs_and_the_rest_sum_to_predict(fitted, kind):
    model, users, items = fitted[kind]
    every_item = np.arange(N_ITEMS)
    predicted = model.predict(3, every_item, user_features=users, item_features=items)
    complete = model.explain(3, every_item, top=None)
    for top in (1, 2):
        for short, full, score in zip(model.explain(3, every_item, top=top), complete, predicted, strict=True):
            assert short.pairs == full.pairs[:top] and short.n_pairs == full.n_pairs
            left_out = sum(p.contribution for p in full.pairs[top:])
            np.testing.assert_allclose(short.rest, left_out, rtol=1e-9, atol=1e-12)
            parts = short.user_bias + short.item_bias + sum(c for _, _, c in short.pairs) + short.rest
            np.testing.assert_allclose(parts, score, rtol=1e-5, atol=1e-5)
            assert short.score == full.score
    if kind == "metadata":  # 2 or 3 user features x 2 or 3 item features: more than `top` pairs
        assert all(e.n_pairs >= 4 for e in complete)
        assert any(e.rest != 0 for e in model.explain(3, every_item, top=2))


def test_defaults_serve_the_features_the_model_was_fit_with(fitted):
    model, users, items = fitted["metadata"]
    kept = model.explain(5, [0, 4, 4], top=None)
    given = model.explain(5, [0, 4, 4], top=None, user_features=users, item_features=items)
    assert kept == given and kept[1] == kept[2]  # repeats allowed
    assert all(isinstance(e, Explanation) and all(isinstance(p, Contribution) for p in e.pairs) for e in kept)
    one = model.explain(5, 4, top=None)  # a scalar item: one explanation, not a list
    assert isinstance(one, Explanation) and one == kept[1]
    assert model.explain(5, []) == []


def test_features_are_named_by_a_dataset_or_by_lists():
    dataset = Dataset()
    dataset.fit(["ann", "bob", "cy"], ["dune", "emma", "ulysses"], ["young", "old"], ["classic", "scifi"])
    user_features = dataset.build_user_features([("ann", ["young"]), ("bob", ["old"]), ("cy", ["young"])])
    item_features = dataset.build_item_features([("dune", ["scifi"]), ("emma", ["classic"]), ("ulysses", ["classic"])])
    train, _ = dataset.build_interactions([("ann", "dune"), ("bob", "emma"), ("cy", "ulysses"), ("ann", "emma")])
    model = LightFM(no_components=3, loss="warp", random_state=0)
    model.fit(train, user_features=user_features, item_features=item_features, epochs=5)
    ann, dune = dataset.user_index("ann"), dataset.item_index("dune")
    named = model.explain(ann, dune, top=None, feature_names=dataset)
    assert {(p.user_feature, p.item_feature) for p in named.pairs} == {
        ("ann", "dune"), ("ann", "scifi"), ("young", "dune"), ("young", "scifi")
    }  # fmt: skip
    plain = model.explain(ann, dune, top=None)
    _, user_map, _, item_map = dataset.mapping()
    assert [(user_map[p.user_feature], item_map[p.item_feature], p.contribution) for p in named.pairs] == [
        tuple(p) for p in plain.pairs
    ]
    # One side named, the other by column; a pair of lists with one name per column.
    item_names = np.array(["D", "E", "U", "classic", "scifi"])
    half = model.explain(ann, dune, top=None, feature_names=(None, item_names))
    assert [(p.user_feature, p.item_feature) for p in half.pairs] == [(f, item_names[g]) for f, g, _ in plain.pairs]
    assert all(type(p.user_feature) is int and type(p.item_feature) is str for p in half.pairs)


def test_bad_input_is_refused_naming_the_argument(fitted):
    model, users, items = fitted["metadata"]
    cases = [
        ({"user_id": 0, "item_ids": [0, N_ITEMS]}, "item_ids"),
        ({"user_id": 0, "item_ids": -1}, "item_ids"),
        ({"user_id": -1, "item_ids": 0}, "user_id"),
        ({"user_id": N_USERS, "item_ids": 0}, "user_id"),
        ({"user_id": [0, 1], "item_ids": 0}, "user_id"),
        ({"user_id": "ann", "item_ids": 0}, "user_id"),
        ({"user_id": 0, "item_ids": ["dune"]}, "item_ids"),
        ({"user_id": 0, "item_ids": 0, "top": 0}, "top"),
        ({"user_id": 0, "item_ids": 0, "top": -2}, "top"),
        ({"user_id": 0, "item_ids": 0, "top": 1.5}, "top"),
        ({"user_id": 0, "item_ids": 0, "top": True}, "top"),
        ({"user_id": 0, "item_ids": 0, "user_features": users[:, :-1]}, "user_features"),
        ({"user_id": 0, "item_ids": 0, "item_features": sp.identity(N_ITEMS, format="csr")}, "item_features"),
        ({"user_id": 0, "item_ids": 0, "feature_names": (None, ["a", "b"])}, "feature_names"),
        ({"user_id": 0, "item_ids": 0, "feature_names": "names"}, "feature_names"),
        ({"user_id": 0, "item_ids": 0, "feature_names": Dataset()}, "feature_names"),
    ]
    for arguments, name in cases:
        with pytest.raises(ValueError, match=name):
            model.explain(**arguments)
    with pytest.raises(ValueError):
        LightFM().explain(0, 0)  # not fitted
