"""compute_free_energy: hydration free energies of a few molecules with OpenMM (alchemical λ windows as compute
jobs, MBAR); each becomes a computed ``hydration_free_energy`` measurement with its uncertainty."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.records import Records
from tools.schemas import InvalidInput, ToolInput, ToolOutput

MAX_MOLECULES = 5


class ComputeFreeEnergyInput(ToolInput):
    molecules: list[str] = Field(min_length=1, max_length=MAX_MOLECULES, description="SMILES or common names")
    quantity: Literal["hydration"] = Field(default="hydration", description="Which free energy: the hydration free energy (gas to water, 298 K)")
    solvent: Literal["obc2", "tip3p"] = Field(default="obc2", description="obc2: implicit water, seconds a molecule; tip3p: explicit water, tens of minutes")
    forcefield: Literal["gaff-2.11", "mmff94"] = Field(default="gaff-2.11", description="gaff-2.11 (AM1-BCC charges) or mmff94 (obc2 only)")
    protocol: Literal["quick", "standard"] = Field(default="quick", description="Sampling length: quick or standard (about ten times longer)")


class FreeEnergy(ToolOutput):
    input: str
    smiles: str
    value: float = Field(description="kcal/mol; negative: the molecule prefers water to the gas phase")
    uncertainty: float = Field(description="One standard error, kcal/mol (statistical only)")
    min_overlap: float
    warnings: list[str]


class ComputeFreeEnergyOutput(ToolOutput):
    quantity: str
    method: str
    results: list[FreeEnergy]
    failures: list[InvalidInput]
    measurements: list[dict[str, object]] = Field(description="The computed measurements, for the record step")


async def compute_free_energy(ctx: ToolContext, args: ComputeFreeEnergyInput) -> ComputeFreeEnergyOutput:
    from tools.compute.fanout import threads_per_job
    from tools.compute.inline import InlineExecutor
    from tools.freeenergy.hydration import HydrationOptions, compute_hydration, window_count
    from tools.freeenergy.solute import read_solute

    options = HydrationOptions(forcefield=args.forcefield, solvent=args.solvent, protocol=args.protocol, platform=ctx.settings.fe_platform)
    executor = ctx.executor or InlineExecutor(None)
    threads = threads_per_job(executor, window_count(options))
    results, failures, measurements = [], [], []
    for text in args.molecules:
        try:
            smiles = resolve_molecule(text)
            result = compute_hydration(read_solute(smiles, name=text), options, executor, ctx.settings.home, threads=threads)
        except ToolInputError as error:  # this molecule cannot be computed; the others still are
            failures.append(InvalidInput(input=text, error=str(error)))
            continue
        results.append(FreeEnergy(input=text, smiles=result.smiles, value=round(result.value_kcal, 3), uncertainty=round(result.uncertainty_kcal, 3),
                                  min_overlap=round(result.min_overlap, 3), warnings=result.warnings))
        measurements.append(result.measurement(ctx.settings.home).model_dump(mode="json"))
    if not results:
        raise ToolInputError(f"no free energy could be computed: {'; '.join(f.error for f in failures)}")
    method = f"{args.forcefield} in {args.solvent}, {args.protocol} protocol: alchemical λ windows, MBAR"
    return ComputeFreeEnergyOutput(quantity=args.quantity, method=method, results=results, failures=failures, measurements=measurements)


def records(output: ComputeFreeEnergyOutput) -> Records:
    return Records(computed_measurements=tuple(output.measurements))


TOOL = Tool(
    "compute_free_energy",
    "Compute hydration free energies (kcal/mol, with a statistical error) by alchemical free-energy calculations with OpenMM.",
    ComputeFreeEnergyInput,
    ComputeFreeEnergyOutput,
    compute_free_energy,
    effect="compute",
    timeout_s=4 * 3600,
    records=records,
)
