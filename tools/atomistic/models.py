"""Which potential a calculation uses, as data a compute job can carry: a ``ModelSpec`` names a bundled potential
(``sevennet-0``, ``chgnet``, ``xtb``, ``gfn1-xtb``) or a DPA-2 model file (a version of the registry, or a frozen
model or checkpoint the user gives), with the file's SHA-256 so a worker refuses a file that changed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools.atomistic.errors import UnknownPotential
from tools.atomistic.potential import Potential
from tools.compute.fanout import file_sha256

BUNDLED_MODELS = ("sevennet-0", "chgnet", "xtb", "gfn1-xtb")
DEEPMD_MODELS = ("dpa2",)
_ALIASES = {"sevennet": "sevennet-0", "7net-0": "sevennet-0", "gfn2-xtb": "xtb", "gfn2": "xtb", "gfn1": "gfn1-xtb"}


class ModelSpec(BaseModel):
    """A potential by name; a DPA-2 model also by its file (``path``, checked against ``sha256``) and, when it is a
    registered version, that ``version``."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str | None = None
    path: str | None = None
    sha256: str | None = None

    @property
    def label(self) -> str:
        """How people name it: ``sevennet-0``, ``dpa2:<version>`` or ``dpa2:<file>``."""
        if self.name in DEEPMD_MODELS:
            return f"{self.name}:{self.version or self.path}"
        return self.name


def bundled_spec(name: str) -> ModelSpec | None:
    """The spec of a bundled potential called ``name`` (case-insensitive, aliases allowed), or None."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    return ModelSpec(name=key) if key in BUNDLED_MODELS else None


def file_spec(name: str, path: Path, version: str | None = None) -> ModelSpec:
    """The spec of a DeePMD model file (a frozen ``.pth`` or a training checkpoint ``.pt``)."""
    if not path.is_file():
        raise UnknownPotential(f"{name}: no model file {path}")
    return ModelSpec(name=name, version=version, path=str(path.resolve()), sha256=file_sha256(path))


def potential_for(spec: ModelSpec) -> Potential:
    """The potential ``spec`` names, its model file checked against the spec's hash.

    Raises:
        UnknownPotential: an unknown name, or a model file that is missing or changed since the spec was made.
        PotentialMissing: the potential's package is not installed.
    """
    if spec.name in DEEPMD_MODELS:
        if spec.path is None:
            raise UnknownPotential(f"a {spec.name} model needs its file")
        path = Path(spec.path)
        if not path.is_file() or (spec.sha256 is not None and file_sha256(path) != spec.sha256):
            raise UnknownPotential(f"the model file {path} of {spec.label} is missing or changed")
        from tools.atomistic.potentials.deepmd import DeepmdPotential

        return DeepmdPotential(path, label=spec.label)
    from tools.atomistic.potentials import potential_named

    return potential_named(spec.name)
