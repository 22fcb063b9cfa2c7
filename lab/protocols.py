"""Instrument Protocols: small, structural, async. An implementation supports whatever Protocol it has the
methods of (``isinstance(x, PlateReader)`` works: they are runtime-checkable).

Every instrument is an async context manager (``async with reader:`` sets it up and stops it) and describes
itself. Operations take frozen requests (``lab.models``) carrying an ``op_id``: repeating an ``op_id``
returns the first result and does nothing.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

from lab.models import (
    AspirateRequest,
    DispenseRequest,
    DoseResponseRequest,
    DoseResponseResult,
    InstrumentDescription,
    LCMSRequest,
    LCMSResult,
    LiquidResult,
    SerialDilutionRequest,
    SolubilityRequest,
    SolubilityResult,
    SynthesisRequest,
    SynthesisResult,
    TransferRequest,
    WeighRequest,
    WeighResult,
)


@runtime_checkable
class Instrument(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def describe(self) -> InstrumentDescription: ...


@runtime_checkable
class LiquidHandler(Instrument, Protocol):
    async def aspirate(self, request: AspirateRequest) -> LiquidResult: ...

    async def dispense(self, request: DispenseRequest) -> LiquidResult: ...

    async def transfer(self, request: TransferRequest) -> LiquidResult: ...

    async def serial_dilution(self, request: SerialDilutionRequest) -> LiquidResult: ...


@runtime_checkable
class Synthesizer(Instrument, Protocol):
    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult: ...


@runtime_checkable
class PlateReader(Instrument, Protocol):
    async def read_dose_response(self, request: DoseResponseRequest) -> DoseResponseResult: ...


@runtime_checkable
class SolubilityMeter(Instrument, Protocol):
    async def measure_solubility(self, request: SolubilityRequest) -> SolubilityResult: ...


@runtime_checkable
class LCMS(Instrument, Protocol):
    async def analyze(self, request: LCMSRequest) -> LCMSResult: ...


@runtime_checkable
class Balance(Instrument, Protocol):
    async def weigh(self, request: WeighRequest) -> WeighResult: ...
