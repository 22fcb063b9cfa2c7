"""What every CLI command shares: the --json option, the console, JSON output, and typed-error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines.")]

# Exit codes: 0 = the request was served; 2 = the input is wrong (the message says which); 3 = the set-up is wrong
# (configuration, schema, the LLM endpoint); 4 = a run that failed while running (steps failed, lab faults);
# 1 = a bug (with a traceback).
EXIT_OK, EXIT_INPUT, EXIT_SETUP, EXIT_RUN_FAILED = 0, 2, 3, 4
EXIT_LAB = EXIT_RUN_FAILED


def console() -> Console:
    """The console for people. Emoji codes are off: ``c1:o:c:c:c1`` is a SMILES, not ``c1⭕c:c:c1``."""
    from rich.console import Console

    return Console(highlight=False, emoji=False)


def shown(value: object) -> str:
    """``value`` (data: a SMILES, a request, an answer, a path, an error) made safe to put into rich markup (a printed
    f-string, a title, a panel, a status or progress description): its square brackets print as themselves and are
    never read as style tags (``c1cc[nH]c1`` would lose ``[nH]``, and ``[/b]`` would raise a MarkupError)."""
    from rich.markup import escape

    return escape(str(value))


def cells(*values: object) -> list[Text]:
    """Table cells that print ``values`` as they are, with no markup or emoji read in them (``Table.add_row`` parses
    plain strings as markup)."""
    from rich.text import Text

    return [Text(str(value)) for value in values]


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _classify(error: Exception) -> tuple[int, str] | None:
    """(exit code, who can fix it) for the typed errors we report without a traceback."""
    from knowledge.errors import NotFoundError, StoreError, StoreInputError, StoreSetupError

    if isinstance(error, NotFoundError):
        return EXIT_INPUT, "not found"
    if "pydantic" in sys.modules:
        from pydantic import ValidationError

        if isinstance(error, ValidationError) and error.title == "AtomLoopSettings":
            return EXIT_SETUP, "setup"
    if isinstance(error, StoreSetupError):
        return EXIT_SETUP, "setup"
    if isinstance(error, StoreInputError):
        return EXIT_INPUT, "input"
    if isinstance(error, StoreError):
        return EXIT_INPUT, "store"
    if "tools.errors" in sys.modules:
        from tools import errors as tool_errors

        if "tools.predict.corpora" in sys.modules:
            from tools.predict.corpora import CorpusUnavailable

            if isinstance(error, CorpusUnavailable):
                return EXIT_SETUP, "setup"
        if isinstance(error, tool_errors.ToolInputError):
            return EXIT_INPUT, "input"
        if isinstance(error, tool_errors.ToolSetupError):
            return EXIT_SETUP, "setup"
        if isinstance(error, tool_errors.ToolFailed):
            return EXIT_INPUT, "failed"
    if "lab.errors" in sys.modules:
        from lab import errors as lab_errors

        if isinstance(error, lab_errors.InvalidRequest | lab_errors.SafetyViolation | lab_errors.PhysicalLimitError):
            return EXIT_INPUT, "input"
        if isinstance(error, lab_errors.SetupError):
            return EXIT_SETUP, "setup"
        if isinstance(error, lab_errors.LabError):
            return EXIT_LAB, "lab"
    return None


def _settings_message(error: Exception) -> str | None:
    """Invalid settings as one line per variable, without the values (a URL or key may carry a secret)."""
    if "pydantic" not in sys.modules:
        return None
    from pydantic import ValidationError

    if not isinstance(error, ValidationError) or error.title != "AtomLoopSettings":
        return None
    problems = []
    for item in error.errors():
        variable = "ATOMLOOP_" + "__".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{variable}: {item['msg'].removeprefix('Value error, ')}")
    return "invalid settings: " + "; ".join(problems)


def handles_errors(command: F) -> F:
    """Turn typed errors into a clear message and an exit code (no traceback); bugs still raise."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            classified = _classify(error)
            if classified is None:
                raise
            code, kind = classified
            message = _settings_message(error) or str(error)
            if kwargs.get("as_json"):
                emit_json({"error": message, "type": type(error).__name__})
            sys.stderr.write(f"atomloop: {kind} error: {message}\n")
            raise typer.Exit(code) from None

    return cast(F, wrapper)


def progress_bar(description: str, total: int, quiet: bool, unit: str = "") -> Any:
    """A context whose value is ``advance(done, total)``: a rich progress bar for people, nothing for --json."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    @contextmanager
    def bar() -> Any:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console(), disable=quiet, transient=True) as progress:
            task = progress.add_task(shown(description), total=total)
            yield lambda done, _total: progress.update(task, completed=done)

    return bar()
