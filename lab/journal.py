"""The operation journal: the first result of every op_id, so repeating an operation does nothing.

``FileOpJournal`` keeps it on disk (JSON lines), so a run resumed in a new process still does not
dispense twice.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from lab.errors import SetupError
from lab.models import Operation


class OpJournal(Protocol):
    def get(self, operation: Operation) -> dict[str, Any] | None: ...

    def put(self, operation: Operation, result: BaseModel) -> None: ...


class MemoryOpJournal:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, operation: Operation) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(operation.op_id)
        if entry is None:
            return None
        fingerprint, result = entry
        if fingerprint != operation.fingerprint():
            raise SetupError(f"op_id {operation.op_id!r} was already used for a different operation")
        return result

    def put(self, operation: Operation, result: BaseModel) -> None:
        with self._lock:
            self._entries.setdefault(operation.op_id, (operation.fingerprint(), result.model_dump(mode="json")))


class FileOpJournal(MemoryOpJournal):
    """A journal that survives the process: one JSON line per completed operation."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._entries[entry["op_id"]] = (entry["fingerprint"], entry["result"])

    def put(self, operation: Operation, result: BaseModel) -> None:
        with self._lock:
            if operation.op_id in self._entries:
                return
            payload = result.model_dump(mode="json")
            self._entries[operation.op_id] = (operation.fingerprint(), payload)
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"op_id": operation.op_id, "fingerprint": operation.fingerprint(), "result": payload}) + "\n")
                handle.flush()
