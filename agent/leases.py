"""Who is running a run or a campaign right now: an exclusive lease per id, held by one process at a time.

A lease is an advisory lock (``flock``) on a file under ``$ATOMLOOP_HOME/locks``; the file also says which
process holds it. The kernel releases the lock when its process dies, however it dies (``kill -9`` included),
so a stored status "running" whose lease nobody holds is a run that was interrupted, and a second process that
tries to continue a held run gets ``AlreadyRunning`` instead of repeating its lab work.

Leases are local to the machine (and to the file system the home directory is on): processes that share one
PostgreSQL store from several machines each need the same ``$ATOMLOOP_HOME`` on a file system with working
``flock`` (a local disk or NFSv4), or must not continue the same run at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from knowledge.errors import StoreInputError

LeaseKind = Literal["run", "campaign"]
_GRACE_S = 0.5  # how long ``hold`` waits for a lock that may be a reader's before it says "already running"


class AlreadyRunning(StoreInputError):
    """Another live process holds the lease of this run or campaign: wait for it, or stop it first."""

    def __init__(self, kind: str, ident: str, holder: dict[str, Any]) -> None:
        self.kind = kind
        self.ident = ident
        self.holder = holder
        where = f"process {holder.get('pid', '?')}"
        if holder.get("host") and holder.get("host") != socket.gethostname():
            where += f" on {holder['host']}"
        since = f" since {holder['since']}" if holder.get("since") else ""
        super().__init__(f"{kind} {ident!r} is already running in {where}{since}; wait for it to finish or stop that process first")


def _lock_path(locks_dir: Path, kind: LeaseKind, ident: str) -> Path:
    return locks_dir / f"{kind}-{ident}.lock"


@contextmanager
def hold(locks_dir: Path, kind: LeaseKind, ident: str) -> Iterator[None]:
    """Hold the lease of ``kind`` ``ident`` for the ``with`` block, or raise ``AlreadyRunning`` at once.

    Not re-entrant: a second ``hold`` of the same lease, even in the same process, is refused too.
    """
    locks_dir.mkdir(parents=True, exist_ok=True)
    path = _lock_path(locks_dir, kind, ident)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        deadline = time.monotonic() + _GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # a reader (``holder``) takes a shared lock for an instant: only a holder that stays is running
                if time.monotonic() >= deadline:
                    raise AlreadyRunning(kind, ident, _read_holder(path)) from None
                time.sleep(0.02)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holder(locks_dir: Path, kind: LeaseKind, ident: str) -> dict[str, Any] | None:
    """Who holds the lease now (pid, host, since), or None when no live process does."""
    path = _lock_path(locks_dir, kind, ident)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path) or {"pid": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def shown_status(locks_dir: Path, kind: LeaseKind, ident: str, stored: str) -> str:
    """The status to show: a stored "running" that no live process holds is "interrupted"."""
    if stored == "running" and holder(locks_dir, kind, ident) is None:
        return "interrupted"
    return stored


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

