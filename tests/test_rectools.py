"""RecTools' LightFM wrapper (``rectools.models.LightFMWrapperModel``) on this package.

RecTools imports ``lightfm.LightFM``; here that is ours. Its main paths, checked
against NumPy products of the model's own parameters and RecTools' feature
matrices: fit, recommend (warm and cold users), item-to-item, get_vectors, the
config round trip (which reads ``initial_random_state``), pickling, and a
subclass overriding ``_initialize`` to start from given embeddings. Skipped
where RecTools is not installed (``pip install --no-deps rectools implicit
typeguard``: its ``lightfm`` extra would install the original package over this one).
"""

import numpy as np
import pandas as pd
import pytest

rectools = pytest.importorskip("rectools")

from rectools import Columns  # noqa: E402
from rectools.dataset import Dataset  # noqa: E402
from rectools.models import LightFMWrapperModel  # noqa: E402

from lightfm import LightFM  # noqa: E402

N_USERS, N_ITEMS = 30, 12
# RecTools 0.17 under pandas 3.1 (not our code).
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in Series.dropna is deprecated")


@pytest.fixture(scope="module")
def dataset():
    rs = np.random.RandomState(0)
    pairs = {(int(u), int(i)) for u, i in zip(rs.randint(0, N_USERS, 150), rs.randint(0, N_ITEMS, 150), strict=True)}
    interactions = pd.DataFrame(sorted(pairs), columns=[Columns.User, Columns.Item])
    interactions[Columns.User] += 100
    interactions[Columns.Item] += 500
    interactions[Columns.Weight] = 1.0
    interactions[Columns.Datetime] = "2024-01-01"
    items = np.arange(N_ITEMS) + 500
    item_features = pd.DataFrame(
        {"id": np.concatenate([items, items]), "feature": ["genre"] * N_ITEMS + ["decade"] * N_ITEMS,
         "value": [f"g{i % 3}" for i in range(N_ITEMS)] + [f"d{i % 2}" for i in range(N_ITEMS)]}
    )  # fmt: skip
    users = np.arange(N_USERS) + 100
    user_features = pd.DataFrame({"id": users, "feature": "city", "value": [f"c{u % 4}" for u in range(N_USERS)]})
    return Dataset.construct(
        interactions,
        user_features_df=user_features,
        item_features_df=item_features,
        cat_user_features=["city"],
        cat_item_features=["genre", "decade"],
    )


def representations(wrapper, dataset, side):
    """(embeddings, biases) of every user or item: RecTools' feature matrix times the parameters, in float64."""
    features = getattr(dataset, f"{side}_features")
    n_hot = dataset.n_hot_users if side == "user" else dataset.n_hot_items
    matrix = wrapper._prepare_features(features, n_hot).astype(np.float64)
    model = wrapper.model
    embeddings = getattr(model, f"{side}_embeddings").astype(np.float64)
    biases = getattr(model, f"{side}_biases").astype(np.float64)
    return matrix @ embeddings, matrix @ biases


def fitted(dataset, **params):
    base = LightFM(**{"no_components": 4, "loss": "warp", "random_state": 0, **params})
    return LightFMWrapperModel(base, epochs=5, num_threads=1, recommend_use_gpu_ranking=False).fit(dataset)


def test_recommend_is_the_top_of_the_scores(dataset):
    wrapper = fitted(dataset)
    user_repr, user_bias = representations(wrapper, dataset, "user")
    item_repr, item_bias = representations(wrapper, dataset, "item")
    scores = user_repr @ item_repr.T + user_bias[:, None] + item_bias[None, :]
    seen = dataset.get_user_item_matrix().toarray() > 0  # hot users and items: the first rows and columns
    scores = scores[: seen.shape[0], : seen.shape[1]]
    scores[seen] = -np.inf
    external = dataset.user_id_map.external_ids[:10]
    reco = wrapper.recommend(users=external, dataset=dataset, k=3, filter_viewed=True)
    for position, user in enumerate(external):
        rows = reco[reco[Columns.User] == user]
        expected = -np.sort(-scores[position])[:3]
        np.testing.assert_allclose(rows[Columns.Score].to_numpy(), expected, rtol=1e-4, atol=1e-5)
        internal = dataset.item_id_map.convert_to_internal(rows[Columns.Item].to_numpy())
        assert not seen[position, internal].any()


def test_cold_users_get_the_items_with_the_largest_biases(dataset):
    wrapper = fitted(dataset)
    _, item_bias = representations(wrapper, dataset, "item")
    reco = wrapper.recommend(users=[99999], dataset=dataset, k=4, filter_viewed=False)
    np.testing.assert_allclose(reco[Columns.Score].to_numpy(), -np.sort(-item_bias)[:4], rtol=1e-5, atol=1e-6)


def test_item_to_item_is_cosine_of_biased_representations(dataset):
    wrapper = fitted(dataset)
    item_repr, item_bias = representations(wrapper, dataset, "item")
    vectors = np.hstack([item_bias[:, None], item_repr])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    targets = dataset.item_id_map.external_ids[:5]
    reco = wrapper.recommend_to_items(target_items=targets, dataset=dataset, k=3, filter_itself=True)
    for position, target in enumerate(targets):
        rows = reco[reco[Columns.TargetItem] == target]
        np.testing.assert_allclose(rows[Columns.Score].to_numpy(), -np.sort(-cosine[position])[:3], atol=1e-5)


def test_get_vectors_are_the_representations(dataset):
    wrapper = fitted(dataset)
    users, items = wrapper.get_vectors(dataset, add_biases=False)
    np.testing.assert_allclose(users, representations(wrapper, dataset, "user")[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(items, representations(wrapper, dataset, "item")[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [None, 7])
def test_config_round_trip_reads_the_seed(dataset, seed):
    wrapper = LightFMWrapperModel(LightFM(no_components=4, random_state=seed), epochs=2)
    config = wrapper.get_config(simple_types=True)
    assert config["model"]["random_state"] == seed
    assert config["model"]["cls"] == "LightFM"
    rebuilt = LightFMWrapperModel.from_config(config)
    assert rebuilt.get_config(simple_types=True) == config
    if seed is not None:  # the same seed: the same model, and the same recommendations
        users = dataset.user_id_map.external_ids[:3]
        first = wrapper.fit(dataset).recommend(users=users, dataset=dataset, k=2, filter_viewed=False)
        second = rebuilt.fit(dataset).recommend(users=users, dataset=dataset, k=2, filter_viewed=False)
        pd.testing.assert_frame_equal(first, second)


def test_dumps_and_loads_keep_the_recommendations(dataset):
    wrapper = fitted(dataset)
    users = dataset.user_id_map.external_ids[:4]
    restored = LightFMWrapperModel.loads(wrapper.dumps())
    pd.testing.assert_frame_equal(
        wrapper.recommend(users=users, dataset=dataset, k=3, filter_viewed=True),
        restored.recommend(users=users, dataset=dataset, k=3, filter_viewed=True),
    )


class StartFrom(LightFM):
    """Starts from given item embeddings, as RecTools' tests and pre-trained embeddings do."""

    def _initialize(self, no_components, no_item_features, no_user_features):
        super()._initialize(no_components, no_item_features, no_user_features)
        grid = np.linspace(-0.5, 0.5, no_item_features * no_components, dtype=np.float32)
        self.item_embeddings = grid.reshape(no_item_features, no_components) / no_components


def test_an_overridden_initialize_is_the_starting_point(dataset):
    wrapper = LightFMWrapperModel(StartFrom(no_components=3, random_state=0), epochs=0).fit(dataset)
    n_item_features = wrapper.model.item_embeddings.shape[0]
    expected = np.linspace(-0.5, 0.5, n_item_features * 3, dtype=np.float32).reshape(-1, 3) / 3
    np.testing.assert_array_equal(wrapper.model.item_embeddings, expected)
    trained = LightFMWrapperModel(StartFrom(no_components=3, random_state=0), epochs=3).fit(dataset)
    assert not np.array_equal(trained.model.item_embeddings, expected)
