"""``rgb2depth serve``: a web page and an HTTP API for depth prediction on one server.

- :mod:`.app`      :func:`create_app` (FastAPI): the page, ``/api/predict``, ``/api/model``,
  ``/api/health``, the request-size limit and JSON errors;
- :mod:`.service`  the loaded model behind a lock, decoding uploads and encoding every format
  with the ``predict`` command's own writers;
- :mod:`.cli`      the ``serve`` command (uvicorn);
- ``static/``      the page: plain HTML, CSS and JavaScript with a small canvas point-cloud
  viewer, all served by the package (no CDN, no build step).

FastAPI + uvicorn rather than gradio: the same page and API need about 6 MB of packages instead
of about 110 MB more, import in a fraction of the time, and test with FastAPI's ``TestClient``
without a port; see ``docs/results/serve.md`` for the measurements.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    # Lazy: ``rgb2depth --help`` imports the ``serve`` command's module, not FastAPI.
    if name == "create_app":
        from rgb2depth.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
