"""The import direction of DESIGN.md: knowledge <- lab <- simulators/tools <- agent (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is part of the test extra"
    result = subprocess.run([lint_imports, "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_bundled_datasets_ship_inside_the_installed_package() -> None:
    from knowledge.bundled import BUNDLED_DATASETS, bundled_dir

    shipped = {path.name for path in bundled_dir().iterdir()}
    assert {dataset.filename for dataset in BUNDLED_DATASETS} | {"SOURCE.txt"} <= shipped
