"""Settings, composed from one section per package. Environment: ``ATOMLOOP_`` prefix, ``__`` nesting.

    ATOMLOOP_HOME=/data/atomloop                   data directory (default ~/.atomloop)
    ATOMLOOP_DATABASE_URL=postgresql+psycopg://... database (default sqlite:///$ATOMLOOP_HOME/atomloop.db)
    ATOMLOOP_LLM__BASE_URL=http://localhost:8000/v1 an OpenAI-compatible endpoint (none: offline planner)
    ATOMLOOP_CONFORMER_CACHE=/data/conformers      3D conformers of unimol models (default $ATOMLOOP_HOME/conformers)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; None = offline planner")
    model: str | None = None
    api_key: SecretStr | None = Field(default=None, description="Never written to the store, logs or reports")
    timeout_s: float = 60.0


class LabSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: Literal["sim", "real"] = "sim"
    seed: int = 0


class AtomLoopSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATOMLOOP_", env_nested_delimiter="__", frozen=True)

    home: Path = Field(default=Path("~/.atomloop"), description="Data directory")
    database_url: str | None = Field(default=None, description="Default: sqlite:///<home>/atomloop.db")
    conformer_cache: Path | None = Field(
        default=None, description="Directory of the 3D conformers unimol models make (default <home>/conformers)"
    )
    llm: LLMSettings = LLMSettings()
    lab: LabSettings = LabSettings()

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
