"""Saving and restoring the embedded moto's state (the local service's `--data`).

moto 5 keeps each service's state in plain Python objects (`BackendDict` ->
account -> region -> backend), which pickle. `save` writes the backends of the
services Dangol uses to a file (through a temporary file and a rename, so a
crash mid-save leaves the previous file); `restore` puts them back before the
app makes its first call.
"""

from __future__ import annotations

import io
import os
import pathlib
import pickle
import tempfile
import threading
from typing import Literal

Service = Literal["dynamodb", "sqs", "ses", "sesv2", "sns", "secretsmanager", "s3"]
# s3: the imports' files (an import accepted before a restart is applied after it); moto's S3
# objects pickle their bytes (FakeKey.__getstate__)
SERVICES: tuple[Service, ...] = ("dynamodb", "sqs", "ses", "sesv2", "sns", "secretsmanager", "s3")
FORMAT = 2
READABLE = (1, 2)  # 1: items packed one by one (read, then kept as this process keeps them)


def _backend_dicts() -> dict:
    from moto.backends import get_backend

    return {name: get_backend(name) for name in SERVICES}


def snapshot() -> dict:
    """{service: [(account, region, backend), ...]} of every backend in use."""
    import moto

    state = {}
    for name, backends in _backend_dicts().items():
        state[name] = [
            (account, region, backend)
            for account, per_region in dict.items(backends)
            for region, backend in dict.items(per_region)
        ]
    return {"format": FORMAT, "moto": moto.__version__, "backends": state}


class _Pickler(pickle.Pickler):
    """Locks and conditions (moto 5.2.5's SQS queues hold one) are saved as new ones."""

    _LOCK = type(threading.Lock())
    _RLOCK = type(threading.RLock())

    def reducer_override(self, obj):
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, self._LOCK):
            return threading.Lock, ()
        if isinstance(obj, self._RLOCK):
            return threading.RLock, ()
        return NotImplemented


def dumps(state: dict) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return buffer.getvalue()


def save(path: str | os.PathLike) -> int:
    """Write the state to `path` atomically; returns the file's size in bytes."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(snapshot())
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return len(data)


class StateFileError(RuntimeError):
    pass


def restore(path: str | os.PathLike) -> bool:
    """Load the state saved at `path` into moto (False if there is no file)."""
    import moto

    source = pathlib.Path(path)
    if not source.exists():
        return False
    try:
        state = pickle.loads(source.read_bytes())
    except Exception as error:
        raise StateFileError(f"{source}: not a readable Dangol state file ({error})") from error
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise StateFileError(f"{source}: not a Dangol state file of format {FORMAT}")
    if state.get("moto") != moto.__version__:
        raise StateFileError(
            f"{source} was saved by moto {state.get('moto')}, this is moto "
            f"{moto.__version__}: start without it (or with another --data path)"
        )
    from devtools import moto_patches

    backends = _backend_dicts()
    for name, entries in state["backends"].items():
        for account, region, backend in entries:
            backends[name][account][region] = backend
            if name == "dynamodb":
                for table in backend.tables.values():
                    moto_patches.adopt(table)  # packed or moto's own dicts, as this process keeps them
    return True
