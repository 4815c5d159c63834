"""The recommendation service: a model file's recommendations over HTTP (``lightfm serve``).

``lightfm serve MODEL`` runs it on uvicorn (the ``serve`` extra: ``pip install "lightfm-ng[serve]"``);
:func:`create_app` returns the FastAPI app for embedding it elsewhere. FastAPI is imported only when
an app is created, so this package imports without the extra.

Example (needs the extra)::

    from lightfm.serve import ServeConfig, create_app

    app = create_app(ServeConfig(model="model.npz", item_names="albums.csv"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from ._config import ServeConfig
from ._model import LoadError, ServedModel, ServingError
from ._service import Service


def create_app(config=None, *, service=None):
    """The FastAPI app serving ``config.model``; see :func:`lightfm.serve.app.create_app`."""
    from .app import create_app as create

    return create(config, service=service)


__all__ = ["LoadError", "ServeConfig", "ServedModel", "Service", "ServingError", "create_app"]
