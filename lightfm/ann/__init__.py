"""Approximate top-n retrieval over large catalogues: :class:`ItemIndex`.

``ItemIndex.build(model)`` puts a fitted model's items in a faiss index (``pip install
"lightfm-ng[ann]"``); ``index.recommend(user_ids, n)`` then answers as
:meth:`lightfm.LightFM.recommend` does, without scoring every item. ``backend="exact"`` scores
every item with the model's own engine (no faiss needed): the reference the index is measured
against.

Examples
--------
>>> import scipy.sparse as sp
>>> from lightfm import LightFM
>>> from lightfm.ann import ItemIndex
>>> model = LightFM(random_state=0).fit(sp.random(30, 60, density=0.1, random_state=0))
>>> items, scores = ItemIndex.build(model, backend="exact").recommend([0, 1], n=5)
>>> items.shape
(2, 5)
"""

from ._index import ItemIndex

__all__ = ["ItemIndex"]
