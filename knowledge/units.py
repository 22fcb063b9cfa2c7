"""Unit parsing and conversion with pint.

One ``pint.UnitRegistry`` per ``UnitConverter``; the store owns one converter, so quantities never
mix registries. pint is imported lazily so that importing ``knowledge`` stays fast.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from knowledge.errors import IncompatibleUnit, InvalidValue, UnknownUnit

if TYPE_CHECKING:
    import pint

    from knowledge.properties import PropertySpec

# Spellings seen in papers and data files, mapped onto what pint parses.
_MICRO_SIGNS = ("\u00b5", "\u03bc")  # MICRO SIGN and GREEK SMALL LETTER MU
_REPLACEMENTS = (
    ("\u2212", "-"),  # minus sign
    ("\u00b7", "*"),  # middle dot
    ("\u22c5", "*"),
    ("\u00d7", "*"),
    ("\u00b0C", "degC"),
    ("\u00b0F", "degF"),
    ("\u2103", "degC"),
    ("\u00b0 C", "degC"),
    ("\u00b0", "degree"),
    ("\u212b", "angstrom"),
    ("\u00c5", "angstrom"),
)
_TEMPERATURE_WORDS = {"c": "degC", "celsius": "degC", "f": "degF", "k": "kelvin"}
# A power of ten printed before a unit: '10-6 cm/s', '10^-6 cm/s', '×10−6 cm s−1', '1e-6 cm/s', '(10-6 cm/s)'.
_SCALE_RE = re.compile(
    r"^\(?\s*(?:[x×*·]\s?)?(?:10\s?(?:\^|\*\*)?\s?\(?(?P<power>[-−–+]?\s?\d{1,2})\)?|1(?:\.0+)?[eE](?P<e>[-+]?\d{1,2}))"
    r"(?:\s*[*·]\s*|\s+)(?P<rest>[^\d\s].*?)\)?$"
)


def normalize_unit_text(unit: str) -> str:
    """Rewrite common typographic unit spellings (µ/μ, °C, unicode minus) into pint syntax."""
    text = unit.strip()
    for sign in _MICRO_SIGNS:
        text = text.replace(sign, "u")
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    text = re.sub(r"\s+", " ", text)
    return text


def split_scale(unit: str) -> tuple[float, str]:
    """A unit printed with a power of ten before it, as (factor, the unit after it): '10-6 cm/s' -> (1e-06, 'cm/s').
    A unit without one comes back as (1.0, unit)."""
    text = unit.strip()
    match = _SCALE_RE.match(text)
    if match is None:
        return 1.0, unit
    power = match.group("power")
    if power is not None and power[:1].isdigit() and not re.match(r"\(?\s*(?:[x×*·]|10\s?(?:\^|\*\*))", text):
        return 1.0, unit  # '102 K': a number, not a power of ten
    raw = (match.group("power") or match.group("e") or "0").replace(" ", "").replace("\u2212", "-").replace("\u2013", "-")
    return 10.0 ** int(raw), match.group("rest").strip()


class UnitConverter:
    """Converts values between units, and onto a property's canonical unit."""

    def __init__(self) -> None:
        import pint

        # pint knows 'molar'/'M', '%', 'degC'; offset units convert through kelvin.
        self._ureg: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
        self._maps: dict[tuple[str, str, str], _AffineMap] = {}

    @property
    def registry(self) -> pint.UnitRegistry:
        return self._ureg

    def parse_unit(self, unit: str) -> pint.Unit:
        text = normalize_unit_text(unit)
        if text.lower() in _TEMPERATURE_WORDS:
            text = _TEMPERATURE_WORDS[text.lower()]
        if text in ("", "1", "-", "dimensionless"):
            return self._ureg.dimensionless
        try:
            parsed: Any = self._ureg.parse_units(text)
        except Exception as error:  # pint raises several unrelated types for bad input
            raise UnknownUnit(unit) from error
        return parsed

    def parse_scaled_unit(self, unit: str) -> tuple[float, pint.Unit]:
        """A unit that may carry a power of ten before it ('10-6 cm/s'): the factor and the pint unit after it."""
        try:
            return 1.0, self.parse_unit(unit)
        except UnknownUnit:
            factor, rest = split_scale(unit)
            if factor == 1.0:
                raise
            try:
                return factor, self.parse_unit(rest)
            except UnknownUnit as error:
                raise UnknownUnit(unit) from error

    def convert(self, value: float, from_unit: str, to_unit: str) -> float:
        source_factor, source = self.parse_scaled_unit(from_unit)
        target_factor, target = self.parse_scaled_unit(to_unit)
        if source.dimensionality != target.dimensionality:
            raise IncompatibleUnit(from_unit, "this value", to_unit)
        quantity = self._ureg.Quantity(value * source_factor, source)
        return float(quantity.to(target).magnitude) / target_factor

    def to_canonical(
        self, spec: PropertySpec, value: float, unit: str | None, molar_mass_g_per_mol: float | None = None
    ) -> float:
        """Express ``value`` (in ``unit``) in the canonical unit of ``spec``.

        Logarithmic properties (logS, pIC50) take either their own log unit, or a linear concentration
        that is converted and logged (an IC50 in nM becomes a pIC50). A mass concentration for a molar
        property needs the molar mass.
        """
        check_finite(value, f"{spec.name} value")
        if unit is None or unit.strip() in spec.all_unit_spellings():
            return float(value)
        if spec.scale == "linear":
            return self._apply(self._affine_map(spec, unit, spec.canonical_unit), value, unit, spec, molar_mass_g_per_mol)
        if spec.base_unit is None:
            raise IncompatibleUnit(unit, spec.name, spec.canonical_unit)
        linear = self._apply(self._affine_map(spec, unit, spec.base_unit), value, unit, spec, molar_mass_g_per_mol)
        if linear <= 0:
            raise InvalidValue(f"{spec.name}: a {linear!r} {spec.base_unit} concentration has no logarithm")
        logged = math.log10(linear)
        return -logged if spec.scale == "neg_log10" else logged

    @staticmethod
    def _apply(
        mapping: _AffineMap, value: float, unit: str, spec: PropertySpec, molar_mass: float | None
    ) -> float:
        converted = mapping.scale * value + mapping.offset
        if not mapping.per_molar_mass:
            return converted
        if molar_mass is None:
            raise IncompatibleUnit(unit, spec.name, spec.canonical_unit, "a mass concentration needs the molecule's molar mass")
        return converted / molar_mass

    def _affine_map(self, spec: PropertySpec, unit: str, target_unit: str) -> _AffineMap:
        """``value -> scale * value + offset`` (then ``/ molar mass`` if flagged), computed once per unit pair.

        pint's parsing is slow; every conversion we support is affine (offset only for temperatures).
        """
        key = (spec.name, unit, target_unit)
        cached = self._maps.get(key)
        if cached is None:
            cached = self._derive_map(spec, unit, target_unit)
            self._maps[key] = cached
        return cached

    def _derive_map(self, spec: PropertySpec, unit: str, target_unit: str) -> _AffineMap:
        source_factor, source = self.parse_scaled_unit(unit)
        target_factor, target = self.parse_scaled_unit(target_unit)
        if source.dimensionality == target.dimensionality:
            zero = float(self._ureg.Quantity(0.0, source).to(target).magnitude)
            one = float(self._ureg.Quantity(1.0, source).to(target).magnitude)
            scale = (one - zero) * source_factor / target_factor
            return _AffineMap(scale=scale, offset=zero / target_factor)
        # mass concentration -> molar concentration, through the molar mass (g/mol)
        mass_per_volume = self._ureg.parse_units("g/L").dimensionality
        molar = self._ureg.parse_units("mol/L").dimensionality
        if source.dimensionality == mass_per_volume and target.dimensionality == molar:
            as_molar = self._ureg.Quantity(source_factor, source) / self._ureg.Quantity(1.0, "g/mol")
            return _AffineMap(scale=float(as_molar.to(target).magnitude) / target_factor, offset=0.0, per_molar_mass=True)
        raise IncompatibleUnit(unit, spec.name, spec.canonical_unit)


class _AffineMap(NamedTuple):
    scale: float
    offset: float
    per_molar_mass: bool = False


def check_finite(value: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"{what} must be a number, got {value!r}") from error
    if not math.isfinite(number):
        raise InvalidValue(f"{what} must be finite, got {number!r}")
    return number
