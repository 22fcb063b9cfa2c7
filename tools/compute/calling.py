"""Calling a job's function: importing it by name, running it, and turning what happened into plain data.

Used inside the worker process (``child``) and by the inline executor, so that a job behaves the same wherever it
runs: the result is normalised through JSON, an exception becomes an error text, not a crash.
"""

from __future__ import annotations

import importlib
import json
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

ProgressHook = Callable[[float, str], None]

_progress_hook: ContextVar[ProgressHook | None] = ContextVar("atomloop_compute_progress", default=None)
_ERROR_CHARS = 4000


def report_progress(fraction: float, note: str = "") -> None:
    """Called by a job function to say how far it has got (0..1); recorded with the job. Outside a job it does
    nothing, so a function stays callable on its own."""
    hook = _progress_hook.get()
    if hook is not None:
        hook(min(max(float(fraction), 0.0), 1.0), str(note))


def import_function(kind: str) -> Callable[..., Any]:
    """The function ``kind`` ('package.module:function') names."""
    module_name, _, attribute = kind.partition(":")
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{kind} is not callable")
    return target


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def call_job(kind: str, inputs: dict[str, Any], progress: ProgressHook | None = None) -> dict[str, Any]:
    """Run ``kind(**inputs)``: ``{"status": "succeeded", "result": ...}`` or ``{"status": "failed", "error": ...}``,
    with ``started_at`` and ``finished_at`` (ISO, UTC). Never raises for what the function does."""
    started = now_iso()
    token = _progress_hook.set(progress)
    try:
        try:
            function = import_function(kind)
        except Exception as error:  # noqa: BLE001 - ImportError, AttributeError, TypeError: nothing callable
            return _failed(f"cannot load {kind}: {type(error).__name__}: {error}", started)
        try:
            value = function(**inputs)
        except Exception as error:  # noqa: BLE001 - what the job raised is its outcome, not our crash
            return _failed(_describe(error), started)
        try:
            result = json.loads(json.dumps(value))
        except (TypeError, ValueError) as error:
            return _failed(f"the result of {kind} is not JSON-able: {error}", started)
        return {"status": "succeeded", "result": result, "error": None, "started_at": started, "finished_at": now_iso()}
    finally:
        _progress_hook.reset(token)


def _failed(error: str, started: str) -> dict[str, Any]:
    return {"status": "failed", "result": None, "error": error[:_ERROR_CHARS], "started_at": started,
            "finished_at": now_iso()}


def _describe(error: BaseException) -> str:
    """``Type: message`` and the innermost frames of where it was raised."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__][-3:]
    where = "".join(traceback.format_list(frames)).rstrip()
    return f"{type(error).__name__}: {error}\n{where}" if where else f"{type(error).__name__}: {error}"
