"""register_molecules: validate molecules (SMILES, names, a file) and have them registered in the store."""

from __future__ import annotations

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.candidates import invalid_input, read_candidates
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.records import Records
from tools.schemas import InvalidInput, ToolInput, ToolOutput


class RegisterMoleculesInput(ToolInput):
    smiles: list[str] = Field(default_factory=list, description="SMILES or common names")
    file: str | None = Field(default=None, description="A file of SMILES (one per line, or a CSV with a smiles column)")


class RegisteredMolecule(ToolOutput):
    input: str
    smiles: str
    inchikey: str
    formula: str


class RegisterMoleculesOutput(ToolOutput):
    molecules: list[RegisteredMolecule]
    invalid: list[InvalidInput]


async def register_molecules(ctx: ToolContext, args: RegisterMoleculesInput) -> RegisterMoleculesOutput:
    from knowledge.chem import canonicalize

    from_file = read_candidates(ctx, args.file, "molecule file") if args.file else []
    inputs = list(args.smiles) + from_file
    if not inputs:
        raise ToolInputError("give molecules as smiles or a file")
    molecules, invalid = [], []
    for position, text in enumerate(inputs):
        try:
            structure = canonicalize(resolve_molecule(text))
        except ToolInputError as error:
            invalid.append(invalid_input(text, error, position - len(args.smiles), args.file))
            continue
        molecules.append(RegisteredMolecule(input=text, smiles=structure.smiles, inchikey=structure.inchikey, formula=structure.formula))
    return RegisterMoleculesOutput(molecules=molecules, invalid=invalid)



def records(output: RegisterMoleculesOutput) -> Records:
    return Records(molecules=tuple(m.smiles for m in output.molecules))


TOOL = Tool(
    "register_molecules",
    "Validate molecules (SMILES, common names, or a file of SMILES) and register them in the knowledge store.",
    RegisterMoleculesInput,
    RegisterMoleculesOutput,
    register_molecules,
    effect="compute",
    timeout_s=120,
    records=records,
)
