"""Reading the one JSON document the local service writes on stdout at start.

`scripts/serve.sh` (and `scripts/serve_local.py`) write their keys and
addresses as a single JSON object on stdout, indented for people, once the
API answers; every log line goes to stderr. A program that starts the
service reads stdout up to the end of that object and keeps the process
running.
"""

from __future__ import annotations

import json
from typing import IO


def read_document(stream: IO[str]) -> dict | None:
    """The JSON object at the start of `stream`, read line by line up to its end;
    None if the stream ends first (the service stopped before it started)."""
    text = ""
    decoder = json.JSONDecoder()
    while True:
        line = stream.readline()
        if not line:
            return None
        text += line
        if not text.strip():
            continue
        if not text.lstrip().startswith("{"):
            raise ValueError(f"the local service wrote something other than one JSON object: {text[:300]!r}")
        try:
            document, end = decoder.raw_decode(text.lstrip())
        except json.JSONDecodeError:
            continue
        if not isinstance(document, dict) or text.lstrip()[end:].strip():
            raise ValueError(f"the local service wrote something other than one JSON object: {text[:300]!r}")
        return document
