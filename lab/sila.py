"""SiLA 2 transport: serve any instrument as a SiLA 2 server, and drive it through the same ``lab`` Protocols
with a SiLA 2 client.

Each instrument kind is one SiLA 2 Feature (``org.atomloop/lab/<Kind>/v1``) built at run time from its FDL
(no code generation): one unobservable command per operation, whose parameter ``RequestJson`` is the
operation's request model as JSON and whose response ``ResultJson`` is its result model as JSON, both
validated by the same pydantic models on each side; and a ``Description`` property. Lab errors cross the wire
as SiLA Defined Execution Errors named after the error class and come back as the same ``LabError`` types.

The server listens on loopback without TLS and with discovery switched off entirely (sila2 would otherwise
open mDNS sockets on every interface even with discovery disabled). Needs the ``sila`` extra:
``pip install 'atomloop[sila]'``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self
from unittest import mock

from pydantic import BaseModel, ValidationError

from lab import errors as lab_errors
from lab import models as lab_models
from lab.errors import ConnectionLost, LabError, SetupError
from lab.models import InstrumentDescription

if TYPE_CHECKING:
    from sila2.framework import Feature

log = logging.getLogger(__name__)

ORIGINATOR = "org.atomloop"
CATEGORY = "lab"


@dataclass(frozen=True)
class CommandSpec:
    identifier: str  # SiLA command identifier, e.g. "ReadDoseResponse"
    method: str  # Python method on the instrument, e.g. "read_dose_response"
    request: type[BaseModel]
    result: type[BaseModel]


FEATURES: dict[str, tuple[str, tuple[CommandSpec, ...]]] = {
    "plate_reader": (
        "PlateReader",
        (CommandSpec("ReadDoseResponse", "read_dose_response", lab_models.DoseResponseRequest, lab_models.DoseResponseResult),),
    ),
    "solubility_meter": (
        "SolubilityMeter",
        (CommandSpec("MeasureSolubility", "measure_solubility", lab_models.SolubilityRequest, lab_models.SolubilityResult),),
    ),
    "liquid_handler": (
        "LiquidHandler",
        (
            CommandSpec("Aspirate", "aspirate", lab_models.AspirateRequest, lab_models.LiquidResult),
            CommandSpec("Dispense", "dispense", lab_models.DispenseRequest, lab_models.LiquidResult),
            CommandSpec("Transfer", "transfer", lab_models.TransferRequest, lab_models.LiquidResult),
            CommandSpec("SerialDilution", "serial_dilution", lab_models.SerialDilutionRequest, lab_models.LiquidResult),
        ),
    ),
    "synthesizer": (
        "Synthesizer",
        (CommandSpec("Synthesize", "synthesize", lab_models.SynthesisRequest, lab_models.SynthesisResult),),
    ),
    "lcms": ("LCMS", (CommandSpec("Analyze", "analyze", lab_models.LCMSRequest, lab_models.LCMSResult),)),
    "balance": ("Balance", (CommandSpec("Weigh", "weigh", lab_models.WeighRequest, lab_models.WeighResult),)),
}

# Errors that cross the wire with their type; anything else arrives as InstrumentFault.
WIRE_ERRORS: tuple[type[LabError], ...] = (
    lab_errors.InvalidRequest,
    lab_errors.SetupError,
    lab_errors.NotReady,
    lab_errors.SafetyViolation,
    lab_errors.PhysicalLimitError,
    lab_errors.SynthesisFailed,
    lab_errors.MeasurementRejected,
    lab_errors.InstrumentTimeout,
    lab_errors.InstrumentBusy,
    lab_errors.InstrumentFault,
    lab_errors.ConnectionLost,
)


def _text(identifier: str, display: str, description: str) -> str:
    return f"<Identifier>{identifier}</Identifier><DisplayName>{display}</DisplayName><Description>{description}</Description>"


def feature_definition(kind: str) -> str:
    """The FDL (SiLA 2 Feature Definition Language) XML of an instrument kind."""
    feature_id, commands = FEATURES[kind]
    error_ids = [e.__name__ for e in WIRE_ERRORS]
    error_refs = "".join(f"<Identifier>{e}</Identifier>" for e in error_ids)
    parts = [
        '<?xml version="1.0" encoding="utf-8" ?>',
        f'<Feature SiLA2Version="1.0" FeatureVersion="1.0" MaturityLevel="Draft" Originator="{ORIGINATOR}" '
        f'Category="{CATEGORY}" xmlns="http://www.sila-standard.org" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.sila-standard.org '
        'https://gitlab.com/SiLA2/sila_base/raw/master/schema/FeatureDefinition.xsd">',
        _text(feature_id, feature_id, f"AtomLoop {feature_id}: requests and results are AtomLoop's lab models as JSON."),
    ]
    for command in commands:
        parts.append(
            "<Command>"
            + _text(command.identifier, command.identifier, f"{command.identifier} ({command.request.__name__} as JSON)")
            + "<Observable>No</Observable>"
            + "<Parameter>"
            + _text("RequestJson", "Request JSON", f"The {command.request.__name__} as JSON")
            + "<DataType><Basic>String</Basic></DataType></Parameter>"
            + "<Response>"
            + _text("ResultJson", "Result JSON", f"The {command.result.__name__} as JSON")
            + "<DataType><Basic>String</Basic></DataType></Response>"
            + f"<DefinedExecutionErrors>{error_refs}</DefinedExecutionErrors>"
            + "</Command>"
        )
    parts.append(
        "<Property>"
        + _text("Description", "Description", "The instrument's InstrumentDescription as JSON")
        + "<Observable>No</Observable><DataType><Basic>String</Basic></DataType></Property>"
    )
    for error in error_ids:
        parts.append(
            "<DefinedExecutionError>" + _text(error, error, f"AtomLoop lab error {error}") + "</DefinedExecutionError>"
        )
    parts.append("</Feature>")
    return "".join(parts)


@functools.cache
def _feature(kind: str) -> Feature:
    """Build a Feature once per kind (sila2 compiles its protobuf in-process)."""
    from sila2.framework import Feature

    return Feature(feature_definition(kind))


def _instrument_kind(instrument: Any) -> str:
    kind = instrument.describe().kind
    if kind not in FEATURES:
        raise SetupError(f"no SiLA 2 feature for instrument kind {kind!r}")
    return kind


class _NoDiscovery:
    """Stands in for sila2's mDNS broadcaster: nothing leaves loopback."""

    registered_server_infos: dict[Any, Any] = {}

    def register_server(self, *args: Any, **kwargs: Any) -> None:
        raise SetupError("SiLA 2 discovery is disabled in AtomLoop")

    def unregister_server(self, *args: Any, **kwargs: Any) -> None:
        return None


class SilaInstrumentServer:
    """Serves one instrument over SiLA 2 on loopback. Use as a context manager or call start()/stop()."""

    def __init__(self, instrument: Any, *, host: str = "127.0.0.1", port: int = 50052) -> None:
        self.instrument = instrument
        self.host = host
        self.port = port
        self.kind = _instrument_kind(instrument)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._server: Any = None

    def start(self) -> None:
        import grpc
        import sila2.server.sila_server as sila_server_module
        from sila2.server import SilaServer

        if self._server is not None:
            raise SetupError("the SiLA 2 server is already running")
        description = self.instrument.describe()
        feature = _feature(self.kind)
        no_port_sharing = functools.partial(grpc.server, options=[("grpc.so_reuseport", 0)])
        with mock.patch.object(grpc, "server", no_port_sharing), mock.patch.object(
            sila_server_module, "SilaServiceBroadcaster", _NoDiscovery
        ):
            server = SilaServer(
                server_name=description.name[:255],
                server_type="AtomLoop" + FEATURES[self.kind][0],
                server_description=f"AtomLoop {description.model} ({'simulated' if description.simulated else 'real'})",
                server_version="1.0",
                server_vendor_url="https://atomloop.invalid",
                server_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"atomloop/{description.name}/{description.serial}")),
                max_grpc_workers=4,
                max_child_task_workers=4,
            )
        # sila2 logs every request, each error with a traceback, and a warning about running without TLS
        # (deliberate here: loopback only)
        for name in (FEATURES[self.kind][0], "SiLAService", "sila2.server.sila_server"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # The instrument's coroutines run on the server's own event loop thread, whatever thread gRPC calls in on
        # and whether or not the caller has a running loop.
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name=f"sila-{description.name}", daemon=True)
        self._loop_thread.start()
        server.set_feature_implementation(feature, _implementation(server, feature, self.kind, self.instrument, self._loop))
        asyncio.run_coroutine_threadsafe(self.instrument.__aenter__(), self._loop).result()
        try:
            server.start_insecure(self.host, self.port, enable_discovery=False)
        except Exception as error:
            self._stop_loop()
            raise SetupError(f"cannot serve SiLA 2 on {self.host}:{self.port}: {error}") from error
        self._server = server
        log.info("serving %s over SiLA 2 on %s:%d", description.name, self.host, self.port)

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self._server.stop(grace_period=0.5)
        finally:
            self._server = None
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.instrument.__aexit__(None, None, None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop, self._loop_thread = None, None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _implementation(server: Any, feature: Feature, kind: str, instrument: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """A FeatureImplementationBase whose methods are named after the FDL's commands (sila2's convention)."""
    from sila2.framework import DefinedExecutionError
    from sila2.server import FeatureImplementationBase

    errors = feature.defined_execution_errors

    def wire_error(error: Exception) -> Exception:
        if isinstance(error, LabError):
            for error_type in WIRE_ERRORS:  # the most specific listed type the error is an instance of
                if isinstance(error, error_type):
                    return DefinedExecutionError(errors[error_type.__name__], message=str(error))
            return DefinedExecutionError(errors["InstrumentFault"], message=f"{type(error).__name__}: {error}")
        if isinstance(error, ValidationError | ValueError):
            return DefinedExecutionError(errors["InvalidRequest"], message=str(error))
        return error

    def make_command(spec: CommandSpec) -> Any:
        def command(self: Any, RequestJson: str, *, metadata: Any) -> str:  # noqa: N803 (SiLA naming)
            try:
                request = spec.request.model_validate_json(RequestJson)
                # gRPC calls in on worker threads: run the coroutine on the server's loop, one at a time there
                result = asyncio.run_coroutine_threadsafe(getattr(instrument, spec.method)(request), loop).result()
            except Exception as error:
                raise wire_error(error) from error
            return result.model_dump_json()

        command.__name__ = spec.identifier
        return command

    namespace: dict[str, Any] = {
        spec.identifier: make_command(spec) for spec in FEATURES[kind][1]
    }

    def get_description(self: Any, *, metadata: Any) -> str:
        return instrument.describe().model_copy(update={"transport": "sila2"}).model_dump_json()

    namespace["get_Description"] = get_description
    implementation_type = type(f"{FEATURES[kind][0]}SilaImplementation", (FeatureImplementationBase,), namespace)
    return implementation_type(server)


class SilaInstrumentClient:
    """Drives a remote instrument over SiLA 2 through the same async methods as the in-process one.

    ``async with SilaInstrumentClient(kind, host, port) as reader:`` connects; ``reader`` then satisfies the
    ``lab`` Protocol of that kind (``PlateReader``, ``SolubilityMeter``, ...).
    """

    def __init__(self, kind: str, *, host: str = "127.0.0.1", port: int = 50052, timeout_s: float = 60.0) -> None:
        if kind not in FEATURES:
            raise SetupError(f"no SiLA 2 feature for instrument kind {kind!r}; known: {', '.join(FEATURES)}")
        self.kind = kind
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._client: Any = None
        self._description: InstrumentDescription | None = None
        for spec in FEATURES[kind][1]:
            setattr(self, spec.method, self._make_method(spec))

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.connect)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
            client._task_executor.shutdown(wait=False)  # SilaClient.close() leaves its executor running

    def connect(self) -> None:
        """Connect (blocking) and read the instrument's description."""
        from sila2.client import SilaClient

        try:
            self._client = SilaClient(self.host, self.port, insecure=True)
            feature = getattr(self._client, FEATURES[self.kind][0])
            self._description = InstrumentDescription.model_validate_json(feature.Description.get())
        except Exception as error:
            self._client = None
            raise ConnectionLost(f"sila2://{self.host}:{self.port}", f"cannot connect: {error}") from error

    def describe(self) -> InstrumentDescription:
        if self._description is None:
            raise lab_errors.NotReady(f"the SiLA 2 client for {self.host}:{self.port} is not connected")
        return self._description

    def _make_method(self, spec: CommandSpec) -> Any:
        async def call(request: BaseModel) -> BaseModel:
            if self._client is None:
                raise lab_errors.NotReady(f"the SiLA 2 client for {self.host}:{self.port} is not connected")
            payload = request.model_dump_json()
            try:
                response = await asyncio.wait_for(asyncio.to_thread(self._invoke, spec.identifier, payload), self.timeout_s)
            except TimeoutError as error:
                raise lab_errors.InstrumentTimeout(self.describe().name, f"no answer to {spec.identifier} in {self.timeout_s:g} s") from error
            return spec.result.model_validate_json(response.ResultJson)

        call.__name__ = spec.method
        return call

    def _invoke(self, command: str, payload: str) -> Any:
        from sila2.framework import DefinedExecutionError, UndefinedExecutionError
        from sila2.framework.errors.sila_connection_error import SilaConnectionError

        feature = getattr(self._client, FEATURES[self.kind][0])
        name = self._description.name if self._description else f"{self.host}:{self.port}"
        try:
            return getattr(feature, command)(RequestJson=payload)
        except DefinedExecutionError as error:
            raise _lab_error(error.identifier, error.message, name) from None
        except UndefinedExecutionError as error:
            raise lab_errors.InstrumentFault(name, f"undefined execution error: {error.message}") from None
        except SilaConnectionError as error:
            raise ConnectionLost(name, str(error)) from None
        except Exception as error:  # grpc.RpcError for a server gone away, among others
            if type(error).__module__.startswith("grpc"):
                raise ConnectionLost(name, str(error)) from None
            raise


def _lab_error(identifier: str, message: str, instrument: str) -> LabError:
    by_name = {error.__name__: error for error in WIRE_ERRORS}
    error_type = by_name.get(identifier, lab_errors.InstrumentFault)
    if issubclass(error_type, lab_errors.InstrumentError):
        # the server's message already names the instrument
        error = error_type.__new__(error_type)
        LabError.__init__(error, message)
        error.instrument = instrument
        return error
    if error_type is lab_errors.SynthesisFailed:
        failed = lab_errors.SynthesisFailed.__new__(lab_errors.SynthesisFailed)
        LabError.__init__(failed, message)
        failed.smiles, failed.reason = "", message
        return failed
    return error_type(message)
