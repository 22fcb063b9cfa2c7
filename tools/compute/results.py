"""Result files: each succeeded job's result as one JSON file, ``<dir>/<key[:2]>/<key>.json``.

The process that ran the job writes the file before it reports back, atomically (a temporary file renamed into
place), so a result exists whole or not at all and survives the client that asked for it being killed. There is no
fsync: a file a power cut leaves empty or torn fails to read back and its job simply runs again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class ResultFiles:
    """The result files under one directory (usually ``$ATOMLOOP_HOME/jobs``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ref(self, key: str) -> str:
        """The file's path relative to the root (what the job row stores)."""
        return f"{key[:2]}/{key}.json"

    def path(self, key: str) -> Path:
        return self.root / self.ref(key)

    def write(self, key: str, payload: dict[str, Any]) -> str:
        """Write ``payload`` for ``key`` atomically; return its ref."""
        return write_result_file(self.root, key, payload)

    def read(self, key: str) -> dict[str, Any] | None:
        """The stored payload of a succeeded job, or None when there is none (or it is unreadable)."""
        try:
            payload = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("key") != key or payload.get("status") != "succeeded":
            return None
        return payload


def write_result_file(root: Path, key: str, payload: dict[str, Any]) -> str:
    """Atomically write ``<root>/<key[:2]>/<key>.json`` (importable without pydantic: workers use it)."""
    ref = f"{key[:2]}/{key}.json"
    target = Path(root) / ref
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ref
