"""A vendored file's HTTP answer (the docs page's and the console's assets):
its content type, an ETag, a day's caching, 304 when unchanged."""

from __future__ import annotations

import hashlib
import pathlib
from typing import Optional


def static_answer(
    name: str, body: str, if_none_match: Optional[str], types: dict, security: dict
) -> tuple[int, dict, str]:
    """Status, headers and body of a vendored file named `name`."""
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    suffix = pathlib.PurePath(name).suffix
    headers = {
        "Content-Type": types.get(suffix, "text/plain; charset=utf-8"),
        "ETag": etag,
        # a day, then revalidated by ETag: a new release's assets are picked up
        "Cache-Control": "public, max-age=86400",
        **security,
    }
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return 304, headers, ""
    return 200, headers, body
