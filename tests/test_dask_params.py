"""DaskLightFM's hyperparameters are LightFM's: the same checks, checked before anything is set (no cluster)."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest

from lightfm import LightFM, ParameterError

pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

from lightfm.dask import DaskLightFM  # noqa: E402

ENGINE = ["client", "syncs_per_epoch", "n_shards"]


def test_a_lightfm_with_lightfms_parameters_and_the_cluster_settings():
    model = DaskLightFM(loss="warp", no_components=7, random_state=3)
    assert isinstance(model, LightFM)
    assert list(model.get_params()) == [*LightFM().get_params(), *ENGINE]
    defaults = LightFM().get_params()
    for name, value in model.get_params().items():
        if name not in ("loss", "no_components", "random_state", *ENGINE):
            assert value == defaults[name], name
    # The same checks and messages as LightFM's constructor.
    for bad in ({"loss": "hinge"}, {"no_components": 0}, {"rho": 1.0}, {"random_state": "seed"}):
        with pytest.raises(ParameterError) as theirs:
            LightFM(**bad)
        with pytest.raises(ParameterError, match=str(theirs.value).replace("(", r"\(").replace(")", r"\)")):
            DaskLightFM(**bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"no_components": -1},
        {"loss": "warp", "learning_rate": 0},  # a good value with a bad one: neither is set
        {"syncs_per_epoch": 0},
        {"loss": "bpr", "n_shards": 1.5},
        {"device": "cuda"},
        {"client": "tcp://somewhere:8786"},
        {"loss": "bpr", "epochs": 3},  # an unknown name
    ],
)
def test_set_params_leaves_the_estimator_unchanged_when_a_value_is_invalid(bad):
    model = DaskLightFM(loss="logistic", no_components=5, random_state=0, syncs_per_epoch=2)
    before = {name: value for name, value in model.get_params().items() if name != "random_state"}
    with pytest.raises(ValueError, match=next(iter(set(bad) - {"loss"}))):
        model.set_params(**bad)
    after = {name: value for name, value in model.get_params().items() if name != "random_state"}
    assert after == before


def test_set_params_sets_valid_values():
    model = DaskLightFM().set_params(loss="warp", no_components=4, syncs_per_epoch=3, n_shards=5, random_state=1)
    assert (model.loss, model.no_components, model.syncs_per_epoch, model.n_shards) == ("warp", 4, 3, 5)
    assert isinstance(model.random_state, np.random.RandomState)
    assert model.get_params()["random_state"] is model.random_state


def test_unfitted_model_pickles_and_refuses_local_training():
    model = pickle.loads(pickle.dumps(DaskLightFM(loss="bpr", n_shards=3)))
    assert (model.loss, model.n_shards, model.client, model.item_embeddings) == ("bpr", 3, None, None)
    with pytest.raises(NotImplementedError, match="to_local"):
        model.fit_partial(None)


def test_clone_gives_an_equal_estimator():
    base = pytest.importorskip("sklearn.base")
    model = DaskLightFM(loss="warp", no_components=6, syncs_per_epoch=5, random_state=2)
    copy = base.clone(model)
    assert type(copy) is DaskLightFM
    assert {k: v for k, v in copy.get_params().items() if k != "random_state"} == {
        k: v for k, v in model.get_params().items() if k != "random_state"
    }


def test_serving_does_not_import_the_estimator():
    """One direction only: the estimator uses the serving functions, which take any fitted LightFM."""
    source = Path(__import__("lightfm.dask._serving", fromlist=["_"]).__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert "_estimator" not in imported and not any(name.endswith("._estimator") for name in imported)


def test_load_reads_a_saved_model_as_a_plain_lightfm(tmp_path):
    """What save writes holds no cluster settings: load gives the LightFM that reads it."""
    import scipy.sparse as sp

    model = LightFM(no_components=4, loss="bpr", random_state=0).fit(sp.random(20, 10, density=0.3, random_state=0))
    model.save(tmp_path / "model.npz")
    loaded = DaskLightFM.load(tmp_path / "model.npz")
    assert type(loaded) is LightFM and loaded.loss == "bpr"
    np.testing.assert_array_equal(loaded.item_embeddings, model.item_embeddings)
