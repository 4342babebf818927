"""The documentation page: Swagger UI shipped with the app (no CDN), served
with its content type, cache headers and a Content-Security-Policy."""

from __future__ import annotations

import functools
import pathlib
from typing import Optional

from chalicelib.api.static_files import static_answer

ASSETS = pathlib.Path(__file__).resolve().parent / "docs_assets"
TYPES = {
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
# Scripts and styles only from this origin; Swagger UI sets style attributes and
# shows its images as data: URLs; "try it" calls this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
SERVED = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "dangol-docs.js",
    "LICENSE",
    "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt",
)


@functools.cache
def _read(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def page() -> tuple[dict, str]:
    """Headers and body of GET /docs (revalidated: it names the assets)."""
    body = _read("index.html")
    return {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", **SECURITY}, body


def redirect_to_page() -> dict:
    """Headers of the answer to GET /docs/: to /docs, relative to where it was asked."""
    return {"Location": "../docs", "Cache-Control": "public, max-age=86400", **SECURITY}


def asset(name: str, if_none_match: Optional[str]) -> Optional[tuple[int, dict, str]]:
    """Status, headers and body of GET /docs/{name}; None for an unknown name."""
    if name not in SERVED:
        return None
    return static_answer(name, _read(name), if_none_match, TYPES, SECURITY)
