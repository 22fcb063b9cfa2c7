"""Tools read only files under the allowed folders: every path-taking tool, by absolute path, by '..', and by a
symlink inside an allowed folder; nothing of a refused file reaches the model, the store, the report or the logs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from agent.app import build_app
from agent.plan import Answer, Plan, PlannedStep
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager
from knowledge.database import upgrade
from knowledge.models import Molecule, Run, ToolCall
from tests.agent.openai_fake import FakeOpenAI, text_response, tool_call_response

SECRET = "root:x:0:0:SECRET-LINE"


@pytest.fixture
def app(_isolated_home: Path) -> Any:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    return app


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the working directory and the home (tmp_path is neither)."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\nCCO\n", encoding="utf-8")
    return path


def _path_args(tool: str, path: str) -> dict[str, Any]:
    return {
        "register_molecules": {"file": path},
        "select_experiments": {"candidates_file": path, "objective": {"property": "logS"}},
        "read_literature": {"paths": [path]},
        "start_campaign": {"objective": {"property": "pIC50"}, "pool_file": path, "experiments": 8},
    }[tool]


PATH_TOOLS = ["register_molecules", "select_experiments", "read_literature", "start_campaign"]


def _everything_stored(app: Any) -> str:
    with app.store.session() as session:
        calls = [json.dumps([c.args, c.result, c.error]) for c in session.exec(select(ToolCall))]
        answers = [r.answer or "" for r in session.exec(select(Run))]
    reports = [p.read_text(encoding="utf-8") for p in app.settings.reports_dir.glob("*.md")]
    return "\n".join(calls + answers + reports)


@pytest.mark.parametrize("tool", PATH_TOOLS)
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_every_path_taking_tool_refuses_a_path_outside_the_allowed_folders(
    app: Any, secret: Path, tool: str, how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(RunManager, "_launch_campaign", lambda self, request: pytest.fail("the campaign must not start"))
    home = app.settings.home_dir
    home.mkdir(parents=True, exist_ok=True)
    if how == "absolute":
        path = str(secret)
    elif how == "dotdot":
        path = str(home / ".." / ".." / secret.relative_to(home.parent.parent))
    else:
        link = home / "innocent.smi"
        link.symlink_to(secret)
        path = str(link)
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool=tool, args=_path_args(tool, path))])] * 3 + [Answer(text="stopped", supported=False)])
    with caplog.at_level(logging.DEBUG):
        result = RunManager(app, planner=planner).start(f"read {path}", run_id=f"paths-{tool}-{how}")
    assert [s.status for s in result.steps] == ["rejected"] * 3  # the tool refused its input
    assert result.failure == "input"
    assert all("outside the folders tools may read" in (s.error or "") for s in result.steps)
    assert SECRET not in _everything_stored(app)
    assert SECRET not in caplog.text
    with app.store.session() as session:
        assert session.exec(select(Molecule)).all() == []


def test_a_folder_the_user_allows_can_be_read(app: Any, secret: Path) -> None:
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="register_molecules", args={"file": str(secret)})]), Answer(text="ok")])
    result = RunManager(app, planner=planner, allowed_paths=(secret.parent,)).start("register", run_id="allowed")
    [step] = result.steps
    assert step.status == "succeeded"
    assert [m["smiles"] for m in (step.result or {})["molecules"]] == ["CCO"]


def test_allowed_folders_come_from_settings_too(_isolated_home: Path, secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMLOOP_ALLOWED_PATHS", f"{secret.parent}{os.pathsep}/nonexistent")
    app = build_app()
    upgrade(app.unchecked_store.engine)
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="register_molecules", args={"file": str(secret)})]), Answer(text="ok")])
    [step] = RunManager(app, planner=planner).start("register", run_id="allowed-env").steps
    assert step.status == "succeeded"


def test_a_refused_file_never_reaches_the_model(app: Any, secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack of the issue: an LLM asks register_molecules for /etc/passwd-like content."""
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    script = [
        tool_call_response([("register_molecules", json.dumps({"file": str(secret)}))]),
        text_response("I could not read that file."),
    ]
    with FakeOpenAI(script) as fake:
        monkeypatch.setenv("ATOMLOOP_LLM__BASE_URL", fake.base_url)
        monkeypatch.setenv("ATOMLOOP_LLM__MODEL", "fake-model")
        llm_app = build_app()
        result = RunManager(llm_app).start("register the molecules in that file", run_id="llm-paths")
        bodies = [json.dumps(r.body) for r in fake.requests]
    assert result.steps[0].status == "rejected"
    assert any("outside the folders tools may read" in body for body in bodies)
    assert all(SECRET not in body for body in bodies)
    assert SECRET not in _everything_stored(llm_app)


def test_a_run_keeps_its_allowed_folders_when_continued_elsewhere(app: Any, secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folders are fixed when the run starts: approving it from another working directory reads no more."""
    steps = [PlannedStep(tool="run_experiment", args={"smiles": ["CCO"], "assays": ["solubility"]}), PlannedStep(tool="register_molecules", args={"file": str(secret)})]
    planner = ScriptedPlanner([Plan(steps=steps), Answer(text="no", supported=False)])
    waiting = RunManager(app, planner=planner, require_approval=True).start("measure, then register", run_id="fixed-roots")
    assert waiting.waiting_for is not None
    monkeypatch.chdir(secret.parent)  # the working directory is allowed for new runs, not for this one
    result = RunManager(app, planner=planner).approve("fixed-roots")
    assert [(s.tool, s.status) for s in result.steps] == [("run_experiment", "succeeded"), ("register_molecules", "rejected")]
    assert "outside the folders tools may read" in (result.steps[1].error or "")


def test_allowed_paths_resolve_symlinks_and_refuse_nul(tmp_path: Path) -> None:
    from tools.paths import AllowedPaths, PathNotAllowed

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.smi").write_text("CCO\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    allowed = AllowedPaths.of([root])
    assert allowed.resolve(str(root / "sub" / "a.smi")) == (root / "sub" / "a.smi").resolve()
    assert allowed.resolve("sub/a.smi", base=root) == (root / "sub" / "a.smi").resolve()
    with pytest.raises(PathNotAllowed):
        allowed.resolve(str(root / "escape" / "x.smi"))
    with pytest.raises(PathNotAllowed):
        allowed.resolve(str(root) + "-sibling/a.smi")  # a prefix of the name is not the folder
    with pytest.raises(PathNotAllowed, match="NUL"):
        allowed.resolve("a\x00b")


@pytest.mark.parametrize("tool", ["register_molecules", "select_experiments"])
def test_a_tool_reads_utf16_and_refuses_binary_files_it_may_read(app: Any, tool: str) -> None:
    home = app.settings.home_dir
    home.mkdir(parents=True, exist_ok=True)
    (home / "utf16.smi").write_bytes("CCO ethanol\nc1ccccc1O phenol\n".encode("utf-16"))
    (home / "binary.smi").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    planner = ScriptedPlanner([
        Plan(steps=[PlannedStep(tool="register_molecules", args={"file": str(home / "utf16.smi")})]),
        Plan(steps=[PlannedStep(tool=tool, args=_path_args(tool, str(home / "binary.smi")))]),
        Answer(text="done"),
    ])
    result = RunManager(app, planner=planner).start("read both files", run_id=f"encodings-{tool}")
    first, second = result.steps
    assert [m["smiles"] for m in (first.result or {})["molecules"]] == ["CCO", "Oc1ccccc1"]
    assert second.status == "rejected"
    assert "binary.smi: the" in (second.error or "") and "PNG image, not a text file" in (second.error or "")


def test_the_working_directory_is_no_root_when_it_is_the_home_or_above(tmp_path: Path) -> None:
    from tools.paths import working_directory_root

    home = tmp_path / "home" / "alice"
    (home / "project").mkdir(parents=True)
    assert working_directory_root(home, home) == ()
    assert working_directory_root(tmp_path / "home", home) == ()
    assert working_directory_root(Path("/"), home) == ()
    assert working_directory_root(home / "project", home) == ((home / "project").resolve(),)


def test_run_from_the_home_folder_tools_read_none_of_its_files(_isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack from the review: `atomloop ask` run from ~, an LLM names .ssh/id_rsa or ~/notes.txt."""
    user_home = tmp_path / "alice"
    (user_home / ".ssh").mkdir(parents=True)
    (user_home / ".ssh" / "id_rsa").write_text(f"-----BEGIN\n{SECRET}\n", encoding="utf-8")
    (user_home / "notes.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.chdir(user_home)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    steps = [Plan(steps=[PlannedStep(tool="register_molecules", args={"file": name})]) for name in (".ssh/id_rsa", "notes.txt")]
    result = RunManager(app, planner=ScriptedPlanner([*steps, Answer(text="no", supported=False)])).start("read my files", run_id="from-home")
    assert [s.status for s in result.steps] == ["rejected", "rejected"]
    assert all("outside the folders tools may read" in (s.error or "") for s in result.steps)
    assert SECRET not in _everything_stored(app)


def test_hidden_files_below_an_allowed_folder_are_refused(app: Any, secret: Path) -> None:
    hidden = secret.parent / ".env"
    hidden.write_text(f"{SECRET}\n", encoding="utf-8")
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="register_molecules", args={"file": str(hidden)})]), Answer(text="no", supported=False)])
    [step] = RunManager(app, planner=planner, allowed_paths=(secret.parent,)).start("register", run_id="hidden").steps
    assert step.status == "rejected" and "hidden file or folder (.env)" in (step.error or "")
    assert SECRET not in _everything_stored(app)


def test_lines_of_a_file_that_are_not_molecules_are_named_by_place_not_by_text(app: Any, secret: Path) -> None:
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="register_molecules", args={"smiles": ["not-a-molecule"], "file": str(secret)})]), Answer(text="ok")])
    [step] = RunManager(app, planner=planner, allowed_paths=(secret.parent,)).start("register", run_id="by-place").steps
    assert step.status == "succeeded"
    output = step.result or {}
    assert [m["smiles"] for m in output["molecules"]] == ["CCO"]
    assert [i["input"] for i in output["invalid"]] == ["not-a-molecule", f"{secret}: entry 1"]
    assert "x:0:0" not in json.dumps(output)
    assert SECRET not in _everything_stored(app)


def test_relative_paths_are_taken_from_the_run_s_working_directory(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Approved from another folder, a run still reads the file it named where it started, not one of the same name."""
    start, elsewhere = tmp_path / "start", app.settings.home_dir
    start.mkdir()
    elsewhere.mkdir(parents=True, exist_ok=True)
    (start / "hits.smi").write_text("CCO\n", encoding="utf-8")
    (elsewhere / "hits.smi").write_text("c1ccccc1O\n", encoding="utf-8")
    monkeypatch.chdir(start)
    steps = [PlannedStep(tool="run_experiment", args={"smiles": ["CCO"], "assays": ["solubility"]}), PlannedStep(tool="register_molecules", args={"file": "hits.smi"})]
    planner = ScriptedPlanner([Plan(steps=steps), Answer(text="ok")])
    RunManager(app, planner=planner, require_approval=True).start("measure, then register", run_id="relative")
    monkeypatch.chdir(elsewhere)
    result = RunManager(app, planner=planner).approve("relative")
    assert [m["smiles"] for m in (result.steps[1].result or {})["molecules"]] == ["CCO"]


def test_a_pipe_named_as_a_file_is_refused_without_blocking(app: Any) -> None:
    home = app.settings.home_dir
    home.mkdir(parents=True, exist_ok=True)
    os.mkfifo(home / "pipe.smi")
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="register_molecules", args={"file": str(home / "pipe.smi")})]), Answer(text="no", supported=False)])
    [step] = RunManager(app, planner=planner).start("register", run_id="pipe").steps
    assert step.status == "rejected" and "not a regular file" in (step.error or "")
