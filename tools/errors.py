"""Typed tool errors (DESIGN.md, Errors).

* ``ToolInputError``: the arguments are wrong (an invalid SMILES, an unknown property). The planner is asked to
  repair the call, within a retry budget.
* ``ToolFailed``: the call ran and failed (no model for a property, every synthesis failed). Recorded; the
  planner may replan.
Anything else raised inside a tool is a bug or an infrastructure failure and stops the run.
"""

from __future__ import annotations


class ToolError(Exception):
    """Base of the errors tools raise on purpose."""


class ToolInputError(ToolError, ValueError):
    """The tool's arguments are invalid: repair the call."""


class ToolFailed(ToolError):
    """The tool ran and could not produce its result."""


class ToolSetupError(ToolError):
    """The tool cannot run as AtomLoop is configured (a setting, an engine or a cluster that is not there): the
    person who set AtomLoop up fixes it, not the planner."""
