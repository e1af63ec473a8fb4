"""``/viewer/``: the built web viewer (viewer/dist), served as static files.

The files hold no patient data (the app fetches everything through the authenticated API), so
the routes are anonymous. Requests are answered from an index of the build output made at
start-up: a request path is only ever looked up in that index, never joined to a folder. If the
viewer has not been built, the routes answer 404 with the build command.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from gateway.errors import problem
from lienthong.settings import Settings

router = APIRouter(tags=["viewer"])

SOURCE_DIST = Path(__file__).resolve().parents[1] / "viewer" / "dist"
# Cornerstone's codecs are WebAssembly; its image workers are module scripts.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
         ".html": "text/html; charset=utf-8"}


def index_dist(dist: Path) -> dict[str, Path]:
    """Relative POSIX path -> file, for every regular file of the build output."""
    if not dist.is_dir():
        return {}
    return {p.relative_to(dist).as_posix(): p for p in dist.rglob("*") if p.is_file()}


def viewer_files(settings: Settings) -> dict[str, Path]:
    return index_dist(settings.viewer_dir or SOURCE_DIST)


def _files(request: Request) -> dict[str, Path]:
    files: dict[str, Path] = request.app.state.viewer_files
    return files


@router.get("/viewer", include_in_schema=False)
def viewer_root() -> RedirectResponse:
    return RedirectResponse("/viewer/", status_code=308)


@router.get("/viewer/{file_path:path}", include_in_schema=False)
def viewer_file(file_path: str, request: Request) -> Response:
    """A file of the build; unknown paths get the app page (the app routes by #hash)."""
    files = _files(request)
    if not files:
        return problem(404, "the viewer is not built: run `npm ci && npm run build` in viewer/")
    found = files.get(file_path) or files.get("index.html")
    if found is None:
        return problem(404, "no such file")
    is_asset = file_path.startswith("assets/") and file_path in files
    media_type = TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0]
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Asset names carry a content hash; the page itself must always be revalidated.
        "Cache-Control": "public, max-age=31536000, immutable" if is_asset else "no-cache",
    }
    return FileResponse(found, media_type=media_type, headers=headers)
