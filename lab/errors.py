"""Typed lab errors, split by who can fix them and what the agent does about them (DESIGN.md, Errors).

    LabError
    ├── SetupError            configuration or inventory is wrong (unknown labware, instrument not set up)
    ├── InvalidRequest        the request itself is wrong (an invalid SMILES, a malformed request)
    ├── NotReady              the instrument was not set up / is closed: call `async with instrument`
    ├── SafetyViolation       a hard limit or the approval gate refused it; nothing moved
    ├── PhysicalLimitError    impossible physics (overfill a well, draw more than is there); nothing moved
    ├── SynthesisFailed       the chemistry did not work (no product); the agent replans
    ├── MeasurementRejected   a reading failed its QC (no fit, saturated detector); recorded, the agent replans
    └── InstrumentError       the hardware failed; inventory rolled back; retry, replan or pause for a human
        ├── InstrumentTimeout
        ├── InstrumentBusy
        ├── InstrumentFault   (e.g. a clogged tip)
        └── ConnectionLost
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error raised by ``lab`` and the simulators."""


class SetupError(LabError):
    """The lab is configured wrongly: fix the configuration or the inventory."""


class InvalidRequest(LabError, ValueError):
    """The request is invalid (a SMILES RDKit cannot parse, a malformed request): fix the request."""


class NotReady(LabError):
    """The instrument is not set up (use it inside ``async with instrument:``)."""


class SafetyViolation(LabError):
    """A hard limit, the reagent allow-list or the approval gate refused the operation. Nothing moved."""


class PhysicalLimitError(LabError):
    """The operation is physically impossible (overfill, overdraw, wrong labware). Nothing moved."""


class SynthesisFailed(LabError):
    """The synthesis gave no usable product."""

    def __init__(self, smiles: str, reason: str) -> None:
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"synthesis of {smiles} failed: {reason}")


class MeasurementRejected(LabError):
    """The instrument ran but the reading failed quality control."""


class InstrumentError(LabError):
    """The instrument failed while executing; any inventory change was rolled back."""

    def __init__(self, instrument: str, message: str) -> None:
        self.instrument = instrument
        super().__init__(f"{instrument}: {message}")


class InstrumentTimeout(InstrumentError):
    pass


class InstrumentBusy(InstrumentError):
    pass


class InstrumentFault(InstrumentError):
    pass


class ConnectionLost(InstrumentError):
    pass
