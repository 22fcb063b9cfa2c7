"""Typed errors of the knowledge store, split by who can fix them.

* ``StoreInputError`` and its children: the caller's data is wrong (a bad SMILES, an unknown unit, a NaN).
  The caller fixes the input; nothing was written.
* ``StoreSetupError``: the store cannot be used as configured (bad database URL, schema not migrated).
  The operator fixes the configuration.
* ``NotFoundError``: a lookup for something that is not in the store.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by ``knowledge``."""


class StoreInputError(StoreError, ValueError):
    """The data handed to the store is invalid. Nothing was written."""


class InvalidStructure(StoreInputError):
    """A SMILES (or other structure) that RDKit cannot parse into a valid molecule."""

    def __init__(self, smiles: str, reason: str = "RDKit could not parse it") -> None:
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"invalid SMILES {smiles!r}: {reason}")


class UnknownProperty(StoreInputError):
    """A property name that is not in the property registry."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown property {name!r}; known properties: {', '.join(sorted(known))}")


class UnitError(StoreInputError):
    """A unit that cannot be used for a property."""


class UnknownUnit(UnitError):
    def __init__(self, unit: str) -> None:
        self.unit = unit
        super().__init__(f"unknown unit {unit!r}")


class IncompatibleUnit(UnitError):
    """The unit is known but has the wrong dimension for the property (e.g. 'K' for a logS)."""

    def __init__(self, unit: str, property_name: str, expected: str, detail: str = "") -> None:
        self.unit = unit
        self.property_name = property_name
        self.expected = expected
        message = f"unit {unit!r} cannot express {property_name} (canonical unit {expected!r})"
        super().__init__(f"{message}: {detail}" if detail else message)


class InvalidValue(StoreInputError):
    """A value that is not a finite number, or an uncertainty that is negative."""


class ImportFailed(StoreInputError):
    """A file import stopped on bad rows; nothing of the file was written."""

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        first_line, first_reason = problems[0]
        more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
        super().__init__(
            f"{path}, line {first_line}: {first_reason}{more}; nothing was imported "
            "(use --skip-invalid to import the valid rows)"
        )


class NotFoundError(StoreError, LookupError):
    """The requested record is not in the store."""


class StoreSetupError(StoreError):
    """The store cannot be used as configured: fix the database URL or run `atomloop db upgrade`."""


class StoreReadOnly(StoreError, RuntimeError):
    """A write through a read-only view of the store: a bug in the code that tried it (tools return results, the
    agent's record step writes them)."""
