from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import AtomLoopSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATOMLOOP_HOME")
    settings = AtomLoopSettings()
    assert settings.home_dir == (Path.home() / ".atomloop").resolve()
    assert settings.resolved_database_url == f"sqlite:///{settings.home_dir / 'atomloop.db'}"
    assert settings.lab.mode == "sim"
    assert settings.llm.base_url is None
    assert settings.conformer_dir == settings.home_dir / "conformers"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATOMLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("ATOMLOOP_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ATOMLOOP_LLM__API_KEY", "sk-secret")
    monkeypatch.setenv("ATOMLOOP_LAB__MODE", "real")
    monkeypatch.setenv("ATOMLOOP_CONFORMER_CACHE", str(tmp_path / "conformers-shared"))
    settings = AtomLoopSettings()
    assert settings.conformer_dir == (tmp_path / "conformers-shared").resolve()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'atomloop.db'}"
    assert settings.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.lab.mode == "real"
    assert "sk-secret" not in repr(settings)
    assert settings.llm.api_key is not None and settings.llm.api_key.get_secret_value() == "sk-secret"
    monkeypatch.setenv("ATOMLOOP_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/x")
    assert AtomLoopSettings().resolved_database_url == "postgresql+psycopg://u@127.0.0.1/x"
