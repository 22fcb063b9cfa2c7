"""Job functions for the compute tests. Workers import this module by the name ``job_functions``: the tests put
this folder on ``sys.path`` (``conftest.py``), and job processes inherit the path of the process that starts them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tools.compute.calling import report_progress


def _note(log: str | None, text: str) -> None:
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


def echo(value: object, log: str | None = None) -> dict[str, object]:
    """Return the value with the process that computed it; append the value to ``log`` (proof that it ran)."""
    _note(log, str(value))
    return {"value": value, "pid": os.getpid()}


def square(x: int, log: str | None = None, delay_s: float = 0.0) -> int:
    time.sleep(delay_s)
    _note(log, str(x))
    return x * x


def sleep_forever(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)


def sleep_for(seconds: float, log: str | None = None) -> float:
    report_progress(0.5, "halfway")
    time.sleep(seconds)
    _note(log, str(seconds))
    return seconds


def die(how: str, log: str | None = None) -> None:
    """End the process abruptly, as a native crash would."""
    _note(log, how)
    if how == "exit":
        os._exit(7)
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(marker: str) -> str:
    """Die the first time (creating ``marker``), succeed the second time."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(9)
    return "second attempt"


def fail(message: str) -> None:
    raise ValueError(message)


def environment(names: list[str]) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}
