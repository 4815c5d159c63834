"""Training and batch scoring on a Dask cluster: the optional extra ``lightfm-ng[dask]``.

- :class:`DaskLightFM`: data-parallel training on a Dask DataFrame of
  ``(user, item[, weight])`` triples, like ``lightgbm.dask``'s estimators;
  ``to_local()`` gives the plain :class:`lightfm.LightFM` to save and serve.
- :func:`recommend`, :func:`precision_at_k`, :func:`recall_at_k`,
  :func:`auc_score`: the single-machine results, computed on the workers.
- :func:`build_dataset`, :func:`map_ids`: raw ids to indices at cluster scale.
- :func:`connect`: a client for a scheduler address or a local cluster of N workers (the CLI's options).

Examples
--------
>>> from lightfm.dask import DaskLightFM, build_dataset, map_ids
>>> dataset = build_dataset(raw_frame)  # doctest: +SKIP
>>> model = DaskLightFM(loss="warp").fit(map_ids(raw_frame, dataset), epochs=10)  # doctest: +SKIP
>>> model.save("model.npz", dataset=dataset)  # doctest: +SKIP
"""

try:
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        f'lightfm.dask needs Dask ({error.name or error} is missing): pip install "lightfm-ng[dask]"'
    ) from error

from ._client import connect
from ._estimator import DEFAULT_SYNCS_PER_EPOCH, DaskLightFM
from ._mapping import build_dataset, map_ids
from ._serving import auc_score, precision_at_k, recall_at_k, recommend

__all__ = [
    "DEFAULT_SYNCS_PER_EPOCH",
    "DaskLightFM",
    "auc_score",
    "build_dataset",
    "connect",
    "map_ids",
    "precision_at_k",
    "recall_at_k",
    "recommend",
]
