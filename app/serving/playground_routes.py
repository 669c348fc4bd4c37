"""GET /ui: the playground page and its two files, served from the package (no build step, no CDN)."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

PLAYGROUND_DIR = Path(__file__).with_name("playground")

# The page loads nothing but its own files and talks to nothing but this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (cheap: ETag), so an upgraded server never runs a stale script.
    "Cache-Control": "no-cache",
}

ASSETS = {
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
}

# A page, not an API operation: left out of the OpenAPI document.
router = APIRouter(include_in_schema=False)


def _file(name: str, media_type: str) -> FileResponse:
    return FileResponse(PLAYGROUND_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/ui")
async def playground_page() -> FileResponse:
    """The page's links are relative to /ui, so it works behind a proxy that adds a path prefix."""
    return _file("index.html", "text/html; charset=utf-8")


@router.get("/ui/")
async def playground_page_with_slash() -> RedirectResponse:
    # Relative, so the redirect keeps any prefix a proxy added.
    return RedirectResponse("../ui", status_code=308)


@router.get("/ui/{name}")
async def playground_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"No file {name!r} in the playground.")
    return _file(name, ASSETS[name])
