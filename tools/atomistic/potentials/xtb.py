"""GFN2-xTB (Bannwarth, Ehlert, Grimme 2019) through tblite's ASE calculator: the semi-empirical labelling oracle,
offline, for molecules and periodic cells of elements H to Rn.

A molecule's total charge comes from the structure (``atoms.info["charge"]``, set from a SMILES' formal charges) and
its spin from the parity of its electrons (a singlet or a doublet) unless given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.atomistic.errors import PotentialMissing
from tools.atomistic.potential import Evaluation, PotentialInfo, check_supported, evaluate_with_calculator

if TYPE_CHECKING:
    from ase import Atoms

XTB_METHODS = {"xtb": "GFN2-xTB", "gfn2-xtb": "GFN2-xTB", "gfn1-xtb": "GFN1-xTB"}
_LAST_ELEMENT = 86  # tblite's GFN parametrisations cover H to Rn


class XtbPotential:
    """GFN2-xTB (or GFN1-xTB) single points; an SCF that does not converge is a ``CalculationFailed``."""

    def __init__(self, method: str = "GFN2-xTB", accuracy: float = 1.0, electronic_temperature_k: float = 300.0) -> None:
        self.method = method
        self.accuracy = accuracy
        self.electronic_temperature_k = electronic_temperature_k

    def info(self) -> PotentialInfo:
        from ase.data import chemical_symbols

        return PotentialInfo(
            name=self.method.lower(), version=f"tblite {_tblite_version()}",
            elements=frozenset(chemical_symbols[1 : _LAST_ELEMENT + 1]), description=f"{self.method} (tblite), semi-empirical tight binding",
        )

    def evaluate(self, atoms: Atoms) -> Evaluation:
        check_supported(self.info(), atoms)
        return evaluate_with_calculator(self.method, self._calculator(atoms), atoms)

    def _calculator(self, atoms: Atoms) -> Any:
        try:
            from tblite.ase import TBLite
        except ImportError:
            raise PotentialMissing(self.method, "tblite") from None
        charge = int(atoms.info.get("charge", 0))
        electrons = int(atoms.numbers.sum()) - charge
        multiplicity = int(atoms.info.get("multiplicity", 1 + electrons % 2))
        return TBLite(
            method=self.method, charge=charge, multiplicity=multiplicity, accuracy=self.accuracy,
            electronic_temperature=self.electronic_temperature_k, verbosity=0,
        )


def _tblite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tblite")
    except PackageNotFoundError:
        raise PotentialMissing("GFN2-xTB", "tblite") from None
