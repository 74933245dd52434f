"""The FastAPI application of ``rgb2depth serve``: the page, its static files and the HTTP API.

Routes:

- ``GET /`` the page (``static/index.html``; its script, style and 3D viewer are served from
  ``/static``, nothing from elsewhere, so it works offline);
- ``GET /api/health`` ``{"status": "ok", "model": NAME}``;
- ``GET /api/model`` name, input size, output kind, licence, formats and limits;
- ``POST /api/predict`` multipart field ``file``; ``?format=npy`` (default: float32 metres,
  ``np.load``-able), ``png16`` (uint16 millimetres), ``color`` (colour map), ``ply`` (coloured
  point cloud) or ``json`` (the page's summary); further options ``focal`` (pixels; else the
  EXIF focal length), ``cmap``, ``colorbar``, ``intrinsics=fx,fy,cx,cy`` (the point cloud's
  camera), ``ply_max_points``, ``points`` (json point count). The body of
  each format is what ``rgb2depth predict --save KIND`` writes for the same image.

Every error is JSON ``{"error": "one line"}``: 400 for an unusable image or option (the message
names the uploaded file and the problem), 413 for a body above the size limit (at most the limit
is ever held; see :class:`BodyLimit`), 404/405 for unknown routes, 500 for a failure of the model; the
server goes on serving after each.

The interactive API docs of FastAPI are switched off: they load their script from a CDN.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from rgb2depth.serve.service import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_VIEW_POINTS,
    FORMATS,
    MEDIA_TYPES,
    DepthService,
    Options,
    RequestError,
    safe_name,
)

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("rgb2depth.serve")


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware refusing request bodies above ``max_bytes`` with 413.

    A declared ``Content-Length`` above the limit is refused without handing any of the body
    to the application. A body without one (chunked) is counted as it streams in; at the limit
    the application is cut off and whatever it answered to the truncated body is replaced by
    the 413. Either way at most ``max_bytes`` are ever held.

    Before the 413 is sent, the rest of the body is read and thrown away (up to ``drain_bytes``;
    none of it is kept): a server that answers and closes while the client is still sending
    makes the client's TCP stack receive a reset, and many clients then lose the answer and
    report a broken connection instead of the 413.
    """

    def __init__(self, app, max_bytes: int, drain_bytes: int = 1 << 30) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.drain_bytes = int(drain_bytes)

    def _message(self, size: str) -> str:
        return (f"request body is {size}, above the limit of {self.max_bytes:,} bytes "
                "(rgb2depth serve --max-upload-mb)")

    async def _drain(self, receive) -> None:
        left = self.drain_bytes
        while left > 0:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._drain(receive)
            await _error(413, self._message(f"{int(length):,} bytes"), {"Connection": "close"})(scope, receive, send)
            return
        state = {"received": 0, "over": False, "more": True, "sent": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                state["more"] = message.get("more_body", False)
                if state["received"] > self.max_bytes:
                    state["over"] = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the application's answer to a cut-off body is replaced by the 413
            state["sent"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["sent"]:
            if state["more"]:
                await self._drain(receive)
            await _error(413, self._message(f"over {self.max_bytes:,} bytes"), {"Connection": "close"})(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised into the application when the streamed body passes the limit."""


def create_app(
    model="default",
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    backend: str | None = None,
    threads: int | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    warm_up: bool = True,
) -> FastAPI:
    """The server's application for ``model``: a name or path for :func:`rgb2depth.load`, or an
    already loaded :class:`~rgb2depth.inference.api.DepthPredictor` (shared, not copied).

    ``max_upload_bytes`` bounds the request body (413 above it); ``max_pixels`` the decoded
    image (400 above it; ``None`` = the library's default). ``max_batch``: most images the
    network runs at once (:class:`~rgb2depth.serve.service.Batcher`). ``warm_up`` runs the
    model once before the first request (:meth:`DepthService.warm_up`).
    """
    from rgb2depth import __version__
    from rgb2depth.inference.api import load

    predictor = load(model, backend=backend, threads=threads) if isinstance(model, (str, os.PathLike)) else model
    service = DepthService(predictor, max_pixels=max_pixels, max_batch=max_batch)
    if warm_up:
        service.warm_up()
    app = FastAPI(title="rgb2depth", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return _error(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
        return _error(400, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _error(500, f"internal error: {type(exc).__name__}: {first}".rstrip(": "))

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/api/health")
    def health():
        return {"status": "ok", "model": predictor.name}

    @app.get("/api/model")
    def model_info():
        return service.info(max_upload_bytes)

    @app.post("/api/predict")
    def predict(
        file: UploadFile | None = File(None, description="The image (any format Pillow reads)."),
        fmt: str = Query("npy", alias="format", description=f"One of {', '.join(FORMATS)}."),
        focal: float | None = Query(None, gt=0, description="Horizontal focal length in pixels of the image (default: its EXIF focal length, else the model's camera)."),
        cmap: str = Query("turbo", description="Matplotlib colormap (color, json)."),
        colorbar: bool = Query(False, description="Append a colour bar in metres (color, json)."),
        intrinsics: str | None = Query(None, description="'fx,fy,cx,cy' in pixels of the image (ply, json)."),
        ply_max_points: int | None = Query(None, ge=0, description="Subsample the PLY to at most this many points (0 = all)."),
        points: int = Query(DEFAULT_VIEW_POINTS, ge=0, le=1_000_000, description="Points in the json point cloud."),
    ):
        """Depth for one uploaded image; see the module docstring for the formats."""
        if file is None:
            raise RequestError("no image: send it as the multipart form field 'file'")
        if fmt not in FORMATS:
            raise RequestError(f"format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        name = safe_name(file.filename)
        opts = Options(cmap=cmap, colorbar=colorbar, intrinsics=intrinsics,
                       ply_max_points=ply_max_points, view_points=points)
        with tempfile.TemporaryDirectory(prefix="rgb2depth-serve-") as tmp:
            src = Path(tmp) / "in" / name
            src.parent.mkdir()
            with open(src, "wb") as f:
                shutil.copyfileobj(file.file, f)
            pred = service.predict_file(src, name, focal)
            body, filename = service.encode(pred, fmt, Path(tmp) / "out", opts)
        headers = {"X-Timings-Ms": json.dumps({k: round(v, 2) for k, v in pred.timings_ms.items()})}
        if fmt != "json":
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
