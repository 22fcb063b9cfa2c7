"""Settings, composed from one section per package. Environment: ``ATOMLOOP_`` prefix, ``__`` nesting.

    ATOMLOOP_HOME=/data/atomloop                   data directory (default ~/.atomloop)
    ATOMLOOP_DATABASE_URL=postgresql+psycopg://... database (default sqlite:///$ATOMLOOP_HOME/atomloop.db)
    ATOMLOOP_LLM__BASE_URL=http://localhost:8000/v1 an OpenAI-compatible endpoint (none: offline planner)
    ATOMLOOP_CONFORMER_CACHE=/data/conformers      3D conformers of unimol models (default $ATOMLOOP_HOME/conformers)
    ATOMLOOP_ALLOWED_PATHS=/data/papers:/data/libs more folders tools may read files under (the working directory
                                                   and $ATOMLOOP_HOME always; ':'-separated, or a JSON list)
    ATOMLOOP_COMPUTE__EXECUTOR=dask                where compute jobs run: local (a process pool, the default),
                                                   dask, or inline (in the calling process, for tests)
    ATOMLOOP_COMPUTE__WORKERS=8                    worker processes of the local pool or the local Dask cluster
                                                   (default 0: one per CPU)
    ATOMLOOP_COMPUTE__ADDRESS=tcp://host:8786      an existing Dask scheduler (default: a LocalCluster on demand)
    ATOMLOOP_COMPUTE__JOB_TIMEOUT_S=3600           wall time after which a job without its own timeout is killed
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class LLMSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; None = offline planner")
    model: str | None = None
    api_key: SecretStr | None = Field(default=None, description="Never written to the store, logs or reports")
    timeout_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host (the message never repeats the URL: it may carry credentials)."""
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError as error:
            raise ValueError(f"not a URL ({error})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give an http:// or https:// URL with a host, e.g. http://localhost:8000/v1")
        return value.strip()


class LabSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: Literal["sim", "real"] = "sim"
    seed: int = Field(default=0, ge=0, description="Seed of the simulated world and its instruments")


class ComputeSettings(BaseModel):
    """Where long computations (compute jobs) run; ``tools.compute.jobs.build_executor`` reads these fields."""

    model_config = ConfigDict(frozen=True)

    executor: Literal["local", "dask", "inline"] = "local"
    workers: int = Field(default=0, ge=0, description="Worker processes; 0 = one per CPU")
    address: str | None = Field(default=None, description="A Dask scheduler, e.g. tcp://host:8786; None = local cluster")
    job_timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Default job wall time")

    @field_validator("address")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None


class FreeEnergySettings(BaseModel):
    """How free-energy calculations run: the OpenMM platform (``auto``: Reference for a small solute in vacuum or
    implicit solvent, CUDA when present for larger systems, else CPU)."""

    model_config = ConfigDict(frozen=True)

    platform: Literal["auto", "Reference", "CPU", "CUDA", "OpenCL"] = "auto"


class AtomLoopSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATOMLOOP_", env_nested_delimiter="__", frozen=True)

    home: Path = Field(default=Path("~/.atomloop"), description="Data directory")
    database_url: str | None = Field(default=None, description="Default: sqlite:///<home>/atomloop.db")
    conformer_cache: Path | None = Field(
        default=None, description="Directory of the 3D conformers unimol models make (default <home>/conformers)"
    )
    allowed_paths: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(), description="Folders tools may read files under, besides the working directory and the home"
    )
    llm: LLMSettings = LLMSettings()
    lab: LabSettings = LabSettings()
    compute: ComputeSettings = ComputeSettings()
    fe: FreeEnergySettings = FreeEnergySettings()

    @field_validator("allowed_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part.strip()]
        return value

    def tool_roots(self, extra: tuple[Path, ...] = ()) -> tuple[Path, ...]:
        """Where tools may read files: the working directory (unless it is '/', the user's home or above it), the
        AtomLoop home, the datasets AtomLoop ships, the configured folders and ``extra``."""
        from knowledge.bundled import bundled_dir
        from tools.paths import working_directory_root

        return (*working_directory_root(Path.cwd(), Path.home()), self.home_dir, bundled_dir(), *self.allowed_paths, *extra)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'atomloop.db'}"

    @property
    def snapshot_dir(self) -> Path:
        return self.home_dir / "datasets"

    @property
    def conformer_dir(self) -> Path:
        return self.conformer_cache.expanduser().resolve() if self.conformer_cache else self.home_dir / "conformers"

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"
