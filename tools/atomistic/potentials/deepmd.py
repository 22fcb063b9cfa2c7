"""DeePMD-kit models (DPA-2 and any other descriptor deepmd-kit's PyTorch backend trains) as potentials: a frozen
model (``.pth``) or a training checkpoint (``.pt``, e.g. a pretrained DPA-2 or DPA-3), evaluated through
deepmd-kit's own ASE calculator (``deepmd.calculator.DP``), and many frames at once through ``DeepPot``.

deepmd-kit's PyPI wheel carries a compiled op library built for another torch (``deepmd/lib/libdeepmd_op_pt.so``);
with it present ``import deepmd.pt`` fails under AtomLoop's torch. The pure-PyTorch path needs no ops (they serve
LAMMPS and ``dp compress``), so the install removes that file; ``deepmd_import_problem`` says so when it is back.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.atomistic.errors import PotentialMissing
from tools.atomistic.potential import Evaluation, PotentialInfo, check_supported, checked_evaluation, evaluate_with_calculator

if TYPE_CHECKING:
    from ase import Atoms

OP_LIBRARY = "libdeepmd_op_pt.so"
_CHATTY_LOGGERS = ("deepmd.env", "deepmd.utils.batch_size", "torch._library.triton", "deepmd.pt.infer.deep_eval")


class DeepmdSetupError(PotentialMissing):
    """deepmd-kit is installed but cannot load under this torch (its compiled op library is for another one)."""

    def __init__(self, message: str) -> None:
        self.potential, self.package = "dpa2", "deepmd-kit"
        Exception.__init__(self, message)


def deepmd_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepmd-kit")
    except PackageNotFoundError:
        raise PotentialMissing("dpa2", "deepmd-kit") from None


def op_library() -> Path | None:
    """The wheel's compiled op library, when it is installed (it should not be; see the module docstring)."""
    from importlib.util import find_spec

    spec = find_spec("deepmd")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "lib" / OP_LIBRARY
    return path if path.exists() else None


def import_deepmd_pt() -> None:
    """Import deepmd-kit's PyTorch backend, or raise a setup error that says how to make it importable.

    Raises:
        PotentialMissing: deepmd-kit is not installed.
        DeepmdSetupError: it is, with an op library built for another torch.
    """
    deepmd_version()
    for variable in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS", "DP_INTER_OP_PARALLELISM_THREADS"):
        os.environ.setdefault(variable, str(torch_threads()) if variable != "DP_INTER_OP_PARALLELISM_THREADS" else "1")
    for name in _CHATTY_LOGGERS:  # set-up advice and notices on every load, not news to a user of AtomLoop
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import deepmd.pt  # noqa: F401
    except RuntimeError as error:
        library = op_library()
        if library is None:
            raise
        raise DeepmdSetupError(
            f"deepmd-kit's compiled op library is built for another torch ({str(error).splitlines()[0]}); "
            f"remove it (`rm {library}`; `make install` does) and the pure-PyTorch DPA-2 path loads"
        ) from None


def torch_threads() -> int:
    """The threads torch uses here: what it was set to, else every core."""
    import sys

    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    return os.cpu_count() or 1


@cache
def _deep_pot(path: str) -> Any:
    import_deepmd_pt()
    from deepmd.infer import DeepPot

    with _missing_ops_named(path):
        return DeepPot(path)


@cache
def _ase_calculator(path: str) -> Any:
    import_deepmd_pt()
    from deepmd.calculator import DP

    with _missing_ops_named(path):
        return DP(model=path)


@contextmanager
def _missing_ops_named(path: str) -> Iterator[None]:
    """A frozen model that calls deepmd-kit's compiled ops (frozen where they were loaded, for LAMMPS) as a setup
    error that says what to use instead, not TorchScript's 'Unknown builtin op'."""
    try:
        yield
    except RuntimeError as error:
        found = re.search(r"Unknown builtin op: (deepmd::\w+)", str(error))
        if found is None:
            raise
        raise DeepmdSetupError(
            f"{path} was frozen with deepmd-kit's compiled ops ({found.group(1)}), which this install does not load (the wheel's "
            "op library is built for another torch): use the model's training checkpoint (.pt) instead, or build deepmd-kit "
            "from source against this torch"
        ) from None


class DeepmdPotential:
    """A DeePMD-kit model file as a potential; ``label`` is how people name it (``dpa2:<version>``)."""

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label or f"dpa2:{self.path.name}"

    def type_map(self) -> list[str]:
        return list(_deep_pot(str(self.path)).get_type_map())

    def info(self) -> PotentialInfo:
        return PotentialInfo(
            name=self.label, version=f"deepmd-kit {deepmd_version()} {self.path.name}", elements=frozenset(self.type_map()),
            description="a DeePMD-kit model (DPA-2), PyTorch backend",
        )

    def evaluate(self, atoms: Atoms) -> Evaluation:
        check_supported(self.info(), atoms)
        with _missing_ops_named(str(self.path)):
            return evaluate_with_calculator(self.label, _ase_calculator(str(self.path)), atoms)

    def evaluate_frames(self, frames: Sequence[Atoms]) -> list[Evaluation]:
        """Frames of one composition (the same atoms in the same order) in one batched call of the model."""
        if not frames:
            return []
        first = frames[0]
        check_supported(self.info(), first)
        index = {symbol: i for i, symbol in enumerate(self.type_map())}
        types = [index[s] for s in first.get_chemical_symbols()]
        coords = np.array([frame.get_positions().reshape(-1) for frame in frames])
        periodic = bool(first.pbc.any())
        cells = np.array([np.asarray(frame.cell.array).reshape(-1) for frame in frames]) if periodic else None
        with _missing_ops_named(str(self.path)):
            energy, forces, virial = _deep_pot(str(self.path)).eval(coords, cells, types)[:3]
        results = []
        for i, frame in enumerate(frames):
            stress = None
            if periodic:
                stress = -np.asarray(virial[i]).reshape(3, 3) / frame.get_volume()
                stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            results.append(checked_evaluation(self.label, np.asarray(energy[i]).reshape(-1)[0], forces[i], stress))
        return results
