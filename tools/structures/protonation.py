"""The charge state of a molecule in water at a pH: its dominant protonation state, by dimorphite-dl 2.x.

dimorphite-dl (Ropp et al., J. Cheminform. 2019; Apache-2.0) matches acidic and basic groups against a table of
substructures with measured pKa values. At one pH, with no precision band, each site takes the state its pKa gives
(protonated below, deprotonated above), and of the variants only the most probable is kept: one SMILES per input,
the same on every call. One departure: dimorphite-dl's generic phenol group was fitted on everything from
nitrophenols to phenol itself (pKa 7.1 with a standard deviation of 3.3), so at pH 7.4 it would make phenolates of
paracetamol, catechols and salicylic acid. A site whose pKa is that uncertain (standard deviation above
``UNCERTAIN_PKA_STDEV``) changes state only where the pH lies more than one standard deviation beyond its pKa, and
otherwise stays neutral. Sites are treated one by one: coupled sites (the two nitrogens of a piperazine) all take
their isolated-site state, and tautomers are not enumerated. Molecules with no matching site come back neutral.

dimorphite-dl is imported inside ``protonate`` (it takes most of a second to import).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tools.errors import ToolInputError

if TYPE_CHECKING:
    from rdkit import Chem

log = logging.getLogger(__name__)

DEFAULT_PH = 7.4
PH_RANGE = (0.0, 14.0)
UNCERTAIN_PKA_STDEV = 3.0  # pKa units: a site fitted this loosely is no evidence of a charge near its pKa


def check_ph(ph: float) -> float:
    """``ph`` as a float, or a ``ToolInputError`` when it is not a number in ``PH_RANGE``."""
    low, high = PH_RANGE
    try:
        value = float(ph)
    except (TypeError, ValueError):
        raise ToolInputError(f"the pH must be a number, not {ph!r}") from None
    if not low <= value <= high:
        raise ToolInputError(f"the pH must lie between {low:g} and {high:g}, not {ph!r}")
    return value


def protonate(molecule: str | Chem.Mol, ph: float = DEFAULT_PH) -> str:
    """The canonical SMILES of ``molecule``'s dominant protonation state at ``ph`` (stereochemistry kept).

    Raises:
        knowledge.errors.InvalidStructure: ``molecule`` is a SMILES RDKit cannot parse.
        tools.errors.ToolInputError: ``ph`` is not a number between 0 and 14.
    """
    from rdkit import Chem, rdBase

    from knowledge.errors import InvalidStructure

    ph = check_ph(ph)
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(molecule) if isinstance(molecule, str) else Chem.RemoveHs(molecule)
        if mol is None or mol.GetNumAtoms() == 0:
            raise InvalidStructure(str(molecule))
        smiles = Chem.MolToSmiles(mol)
        # a list, never a bare string: dimorphite-dl reads a string that names an existing file as that file
        states = _dominant_state_protonator([smiles], ph).to_list()
        state = Chem.MolFromSmiles(states[0]) if states else None
    if state is None:
        log.warning("dimorphite-dl gave no protonation state for %s at pH %g; keeping it as it is", smiles, ph)
        return smiles
    return str(Chem.MolToSmiles(state))


def _dominant_state_protonator(smiles: list[str], ph: float) -> Any:
    """dimorphite-dl's ``Protonate`` at one pH with one variant per molecule, leaving out the sites whose pKa is
    too uncertain to decide at this pH (see the module's docstring)."""
    from dimorphite_dl.protonate.run import Protonate
    from dimorphite_dl.protonate.site import ProtonationState

    class DominantState(Protonate):
        def _detect_protonation_sites(self, mol_record: Any) -> tuple[Any, list[Any]]:
            mol_record, sites = super()._detect_protonation_sites(mol_record)
            decided = [
                site for site in sites
                if not any(pka.stdev > UNCERTAIN_PKA_STDEV and pka.get_state(ph, ph, 1.0) == ProtonationState.BOTH
                           for pka in site.pkas)
            ]
            return mol_record, decided

    return DominantState(smiles_input=smiles, ph_min=ph, ph_max=ph, precision=0.0, max_variants=1)


def dimorphite_version() -> str:
    """The installed dimorphite-dl's version (part of what a protonated structure's job key names)."""
    from importlib.metadata import version

    return version("dimorphite_dl")
