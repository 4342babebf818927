"""The operator console (`GET /console`) and the member page (`GET /widget`):
static pages whose scripts call the API from the browser, served with every
asset they use (no CDN, nothing fetched from another origin at run time).

`GET /ui/{asset}` serves the scripts, styles and vendored libraries in
`assets/` with their content type, an ETag and a day's caching; the pages
themselves are revalidated on every load. Every answer carries a
Content-Security-Policy that allows scripts, styles and requests from this
origin only (no inline script, no inline style attribute), and no framing.
"""

from __future__ import annotations

import functools
import html
import pathlib
import re
from typing import Optional

from chalicelib.api.static_files import static_answer

ASSETS = pathlib.Path(__file__).resolve().parent / "assets"
TYPES = {
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGES = {"console": "console.html", "widget": "widget.html"}
SERVED = (
    "console.js",
    "widget.js",
    "common.js",
    "dangol.css",
    "uPlot.iife.min.js",
    "uPlot.min.css",
    "uPlot.LICENSE.txt",
    "qrcode.js",
    "favicon.svg",
)
# what a widget token looks like (chalicelib/api/widget_tokens.py); anything else is not echoed
TOKEN_SHAPE = re.compile(r"dgw_[A-Za-z0-9_-]{1,300}\.[A-Za-z0-9_-]{43}")
TOKEN_SLOT = '<meta name="dangol-widget-token" content="">'


@functools.cache
def _read(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def page(name: str) -> tuple[dict, str]:
    """Headers and body of GET /console or GET /widget."""
    return {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", **SECURITY}, _read(PAGES[name])


def widget_with_token(form_body: bytes) -> tuple[dict, str]:
    """POST /widget, as a storefront's page submits a form with a `token` field (so
    the token travels in a body, never in a URL): the page with the token in a meta
    element its script moves to the tab's sessionStorage. Never cached."""
    from urllib.parse import parse_qs

    try:
        fields = parse_qs(form_body.decode("ascii"), max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
        fields = {}
    token = (fields.get("token") or [""])[0]
    headers, body = page("widget")
    if TOKEN_SHAPE.fullmatch(token):
        body = body.replace(TOKEN_SLOT, f'<meta name="dangol-widget-token" content="{html.escape(token)}">')
    return {**headers, "Cache-Control": "no-store"}, body


def asset(name: str, if_none_match: Optional[str]) -> Optional[tuple[int, dict, str]]:
    """Status, headers and body of GET /ui/{name}; None for an unknown name."""
    if name not in SERVED:
        return None
    return static_answer(name, _read(name), if_none_match, TYPES, SECURITY)
