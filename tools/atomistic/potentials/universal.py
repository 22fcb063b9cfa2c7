"""Universal machine-learned potentials whose weights ship inside their wheels, so they work offline: SevenNet-0
(``sevenn``; Park et al. 2024, trained on MPtrj) and CHGNet 0.3.0 (``chgnet``; Deng et al. 2023, MPtrj).

Both are trained on periodic DFT (PBE/PBE+U) crystals; molecules are evaluated in a box of vacuum (CHGNet needs a
cell). Their energies are on their training set's scale, not xTB's: compare energies of one model only.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import TYPE_CHECKING, Any

from tools.atomistic.errors import PotentialMissing
from tools.atomistic.potential import Evaluation, PotentialInfo, check_supported, evaluate_with_calculator

if TYPE_CHECKING:
    from ase import Atoms

MOLECULE_VACUUM_A = 10.0  # the vacuum around a molecule given to a model that needs a cell
_MPTRJ_LAST_ELEMENT = 89  # MPtrj covers H to Ac (with gaps the models still embed)


def _mptrj_elements() -> frozenset[str]:
    from ase.data import chemical_symbols

    return frozenset(chemical_symbols[1 : _MPTRJ_LAST_ELEMENT + 1])


def _version(package: str, potential: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        raise PotentialMissing(potential, package) from None


@cache
def _sevennet_calculator(model: str) -> Any:
    try:
        from sevenn.calculator import SevenNetCalculator
    except ImportError:
        raise PotentialMissing(model, "sevenn") from None
    with warnings.catch_warnings():  # it advises a GPU tensor-product kernel, which a CPU run cannot use
        warnings.filterwarnings("ignore", message="No tensor product accelerator")
        return SevenNetCalculator(model, device="cpu")


@cache
def _chgnet_calculator(model: str) -> Any:
    try:
        from chgnet.model import CHGNet, CHGNetCalculator
    except ImportError:
        raise PotentialMissing(f"chgnet-{model}", "chgnet") from None
    return CHGNetCalculator(model=CHGNet.load(model_name=model, use_device="cpu", verbose=False), use_device="cpu")


class SevenNetPotential:
    """SevenNet-0 (``7net-0``, the checkpoint in the ``sevenn`` wheel) on the CPU."""

    def __init__(self, model: str = "7net-0") -> None:
        self.model = model

    def info(self) -> PotentialInfo:
        return PotentialInfo(
            name="sevennet-0" if self.model == "7net-0" else f"sevennet:{self.model}", version=f"sevenn {_version('sevenn', 'sevennet-0')} {self.model}",
            elements=_mptrj_elements(), description="SevenNet-0, an equivariant universal potential (MPtrj, PBE)",
        )

    def evaluate(self, atoms: Atoms) -> Evaluation:
        check_supported(self.info(), atoms)
        return evaluate_with_calculator("sevennet-0", _sevennet_calculator(self.model), atoms)


class ChgnetPotential:
    """CHGNet (the 0.3.0 weights in the ``chgnet`` wheel) on the CPU; a molecule is given a vacuum box."""

    def __init__(self, model: str = "0.3.0") -> None:
        self.model = model

    def info(self) -> PotentialInfo:
        return PotentialInfo(
            name="chgnet", version=f"chgnet {_version('chgnet', 'chgnet')} weights {self.model}", elements=_mptrj_elements(),
            description="CHGNet, a charge-informed universal graph potential (MPtrj, PBE/PBE+U)",
        )

    def evaluate(self, atoms: Atoms) -> Evaluation:
        check_supported(self.info(), atoms)
        work = atoms
        if not atoms.pbc.any():
            work = atoms.copy()
            work.center(vacuum=MOLECULE_VACUUM_A)
        evaluation = evaluate_with_calculator("chgnet", _chgnet_calculator(self.model), work)
        return evaluation if atoms.pbc.any() else evaluation.model_copy(update={"stress": None})
