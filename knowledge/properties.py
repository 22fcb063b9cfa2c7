"""The property registry: every property the store accepts, with its canonical unit.

Values are stored in the canonical unit only; incoming values in other units are converted on the way in.
Logarithmic properties (logS, pIC50, ...) keep a ``base_unit`` so that linear concentrations can be logged
into them (an IC50 of 40 nM is a pIC50 of 7.40).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.errors import UnknownProperty

Scale = Literal["linear", "log10", "neg_log10"]


class PropertySpec(BaseModel):
    """One measurable or computable property."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Registry key, e.g. 'logS'.")
    canonical_unit: str = Field(description="The unit values are stored in; a label for log scales.")
    description: str
    scale: Scale = "linear"
    base_unit: str | None = Field(
        default=None, description="For log scales: the linear unit whose log10 this property is."
    )
    unit_aliases: tuple[str, ...] = Field(
        default=(), description="Spellings that mean the canonical unit itself (no conversion)."
    )
    aliases: tuple[str, ...] = Field(default=(), description="Other names for the property.")
    minimum: float | None = Field(default=None, description="Physically possible lower bound (inclusive).")
    maximum: float | None = Field(default=None, description="Physically possible upper bound (inclusive).")

    def all_unit_spellings(self) -> set[str]:
        return {self.canonical_unit, *self.unit_aliases}


_LOG_LABELS = ("log units", "log", "")


def _builtin_properties() -> tuple[PropertySpec, ...]:
    return (
        PropertySpec(
            name="logS",
            canonical_unit="log10(mol/L)",
            description="Aqueous solubility, log10 of the molar concentration of a saturated solution.",
            scale="log10",
            base_unit="mol/L",
            unit_aliases=("log(mol/L)", "log10(M)", "log(M)", "logS", "log mol/L", *_LOG_LABELS),
            aliases=("solubility", "log_solubility", "aqueous_solubility", "esol"),
            minimum=-20.0,
            maximum=3.0,
        ),
        PropertySpec(
            name="pIC50",
            canonical_unit="-log10(mol/L)",
            description="Potency: minus log10 of the half-maximal inhibitory concentration in mol/L.",
            scale="neg_log10",
            base_unit="mol/L",
            unit_aliases=("-log10(M)", "-log(M)", "pIC50", *_LOG_LABELS),
            aliases=("pic50", "potency"),
            minimum=-3.0,
            maximum=15.0,
        ),
        PropertySpec(
            name="IC50",
            canonical_unit="nM",
            description="Half-maximal inhibitory concentration.",
            aliases=("ic50",),
            minimum=0.0,
        ),
        PropertySpec(
            name="EC50",
            canonical_unit="nM",
            description="Half-maximal effective concentration.",
            aliases=("ec50",),
            minimum=0.0,
        ),
        PropertySpec(
            name="Ki",
            canonical_unit="nM",
            description="Inhibition constant.",
            aliases=("ki",),
            minimum=0.0,
        ),
        PropertySpec(
            name="Kd",
            canonical_unit="nM",
            description="Dissociation constant of a ligand and its target.",
            aliases=("kd", "k_d"),
            minimum=0.0,
        ),
        PropertySpec(
            name="pEC50",
            canonical_unit="-log10(mol/L)",
            description="Minus log10 of the half-maximal effective concentration in mol/L.",
            scale="neg_log10",
            base_unit="mol/L",
            unit_aliases=("-log10(M)", "-log(M)", "pEC50", *_LOG_LABELS),
            aliases=("pec50",),
            minimum=-3.0,
            maximum=15.0,
        ),
        PropertySpec(
            name="pKi",
            canonical_unit="-log10(mol/L)",
            description="Minus log10 of the inhibition constant in mol/L.",
            scale="neg_log10",
            base_unit="mol/L",
            unit_aliases=("-log10(M)", "-log(M)", "pKi", *_LOG_LABELS),
            aliases=("pki",),
            minimum=-3.0,
            maximum=15.0,
        ),
        PropertySpec(
            name="logD",
            canonical_unit="log10(D)",
            description="Octanol/water distribution coefficient, log10 (at pH 7.4 unless the fact's conditions name a pH).",
            scale="log10",
            unit_aliases=("logD", *_LOG_LABELS),
            aliases=("logd", "lipophilicity", "lipo", "logD7.4"),
            minimum=-10.0,
            maximum=15.0,
        ),
        PropertySpec(
            name="logP",
            canonical_unit="log10(P)",
            description="Octanol/water partition coefficient of the neutral species, log10.",
            scale="log10",
            unit_aliases=("logP", *_LOG_LABELS),
            aliases=("logp", "clogp"),
            minimum=-15.0,
            maximum=20.0,
        ),
        PropertySpec(
            name="pKa",
            canonical_unit="pH units",
            description="Acid dissociation constant, minus log10.",
            scale="log10",
            unit_aliases=("pKa", *_LOG_LABELS),
            aliases=("pka",),
            minimum=-15.0,
            maximum=60.0,
        ),
        PropertySpec(
            name="hydration_free_energy",
            canonical_unit="kcal/mol",
            description="Free energy of transfer from gas to water at 298 K.",
            aliases=("hydration_energy", "freesolv", "dG_hyd", "hfe"),
            minimum=-100.0,
            maximum=100.0,
        ),
        PropertySpec(
            name="binding_free_energy",
            canonical_unit="kcal/mol",
            description="Free energy of binding (computed, e.g. FEP).",
            aliases=("dG_bind",),
        ),
        PropertySpec(
            name="docking_score",
            canonical_unit="kcal/mol",
            description="Docking score of the best pose (AutoDock Vina convention: lower binds better).",
            aliases=("vina_score",),
        ),
        PropertySpec(
            name="melting_point",
            canonical_unit="K",
            description="Melting point.",
            aliases=("mp", "melting_temperature"),
            minimum=0.0,
        ),
        PropertySpec(
            name="boiling_point",
            canonical_unit="K",
            description="Boiling point at 1 atm.",
            aliases=("bp",),
            minimum=0.0,
        ),
        PropertySpec(
            name="Tc",
            canonical_unit="K",
            description="Superconducting critical temperature.",
            aliases=("tc", "critical_temperature"),
            minimum=0.0,
        ),
        PropertySpec(
            name="yield",
            canonical_unit="%",
            description="Isolated yield of a synthesis.",
            aliases=("synthesis_yield",),
            minimum=0.0,
            maximum=100.0,
        ),
        PropertySpec(
            name="purity",
            canonical_unit="%",
            description="Purity of a sample (e.g. LC-MS area percent).",
            aliases=("lcms_purity",),
            minimum=0.0,
            maximum=100.0,
        ),
        PropertySpec(
            name="clearance",
            canonical_unit="uL/min/mg",
            description="Intrinsic clearance in liver microsomes, per mg protein (the species in the fact's conditions).",
            aliases=("clint", "CLint", "intrinsic_clearance"),
            minimum=0.0,
        ),
        PropertySpec(
            name="half_life",
            canonical_unit="h",
            description="Half-life (in microsomes, plasma or in vivo, as the table says).",
            aliases=("t1/2", "t_half", "t½"),
            minimum=0.0,
        ),
        PropertySpec(
            name="kinetic_solubility",
            canonical_unit="uM",
            description="Kinetic solubility in buffer (from a DMSO stock), as a molar concentration; the pH in the fact's conditions.",
            aliases=("kinetic_sol",),
            minimum=0.0,
        ),
        PropertySpec(
            name="thermodynamic_solubility",
            canonical_unit="uM",
            description="Thermodynamic (equilibrium) solubility of the solid, as a molar concentration; the pH in the fact's conditions.",
            aliases=("thermodynamic_sol", "equilibrium_solubility"),
            minimum=0.0,
        ),
        PropertySpec(
            name="permeability",
            canonical_unit="1e-6 cm/s",
            description="Apparent permeability (Papp) across a cell monolayer (Caco-2, MDCK) or an artificial membrane (PAMPA).",
            unit_aliases=("10-6 cm/s", "10^-6 cm/s", "10−6 cm/s", "1e-6 cm s-1"),
            aliases=("papp", "apparent_permeability"),
            minimum=0.0,
        ),
        PropertySpec(
            name="ppb",
            canonical_unit="%",
            description="Plasma protein binding, percent bound.",
            aliases=("plasma_protein_binding", "percent_bound"),
            minimum=0.0,
            maximum=100.0,
        ),
        PropertySpec(
            name="fu",
            canonical_unit="",
            description="Fraction unbound in plasma (or in the matrix the fact's conditions name), 0 to 1.",
            aliases=("fraction_unbound", "fu_p", "fup"),
            minimum=0.0,
            maximum=1.0,
        ),
        PropertySpec(
            name="molecular_weight",
            canonical_unit="g/mol",
            description="Molar mass.",
            aliases=("mw", "MW"),
            minimum=0.0,
        ),
    )


class PropertyRegistry:
    """Looks up properties by name or alias (case-insensitive)."""

    def __init__(self, specs: Iterable[PropertySpec]) -> None:
        self._specs: dict[str, PropertySpec] = {}
        self._by_key: dict[str, PropertySpec] = {}
        for spec in specs:
            self.add(spec)

    @classmethod
    def default(cls) -> PropertyRegistry:
        return cls(_builtin_properties())

    def add(self, spec: PropertySpec) -> None:
        keys = [spec.name.lower(), *(alias.lower() for alias in spec.aliases)]
        clashes = [key for key in keys if key in self._by_key]
        if clashes:
            raise ValueError(f"property {spec.name!r} clashes with existing names {clashes}")
        self._specs[spec.name] = spec
        for key in keys:
            self._by_key[key] = spec

    def get(self, name: str) -> PropertySpec:
        spec = self._by_key.get(name.strip().lower())
        if spec is None:
            raise UnknownProperty(name, list(self._specs))
        return spec

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._by_key

    def __iter__(self) -> Iterator[PropertySpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)
