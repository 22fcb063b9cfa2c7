"""``atomloop read`` as a careless user runs it: files that are not PDFs, PDFs that cannot be read, paths that
cannot be used. Exit 0 only when a document was read (failures listed beside it); 2 when the user must fix the
input, with the path named; never a traceback, and nothing stored for a document that failed."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from agent.cli import cli

pymupdf = pytest.importorskip("pymupdf")

ZERO_PAGES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def invoke(*args: str) -> Result:
    # wide enough that rich wraps none of the temporary paths looked for (they are longer under pytest-xdist)
    return CliRunner(env={"COLUMNS": "400"}).invoke(cli, list(args))


def stats() -> dict[str, Any]:
    result = invoke("db", "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored() -> tuple[int, int]:
    """(documents, facts) in the store."""
    numbers = stats()
    return numbers["documents"], numbers["facts"]


@pytest.fixture(autouse=True)
def _store() -> None:
    assert invoke("db", "init").exit_code == 0


def paper(path: Path, text: str = "The pKa of SM10 was 3.10 in water.", *, title: str | None = None, **save: Any) -> Path:
    """A one-page PDF with one fact in its text."""
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), text, fontsize=11)
    if title is not None:
        doc.set_metadata({"title": title})
    doc.save(path, **save)
    doc.close()
    return path


BAD_FILES: dict[str, tuple[bytes | None, str]] = {
    # name: (content, the reason shown); None: made by the test (needs pymupdf)
    "binary.pdf": (random.Random(7).randbytes(4096), "not a PDF (no %PDF- header)"),
    "utf16.pdf": ("The pKa of SM10 was 3.10 in water.".encode("utf-16"), "not a PDF (no %PDF- header)"),
    "empty.pdf": (b"", "empty file"),
    "zero-pages.pdf": (ZERO_PAGES, "the PDF has no pages (empty or corrupt)"),
    "header-only.pdf": (b"%PDF-1.7\n", "corrupt PDF"),
    "notes.txt": (b"just notes\n", "not a PDF (no %PDF- header)"),
    "locked.pdf": (None, "the PDF is encrypted and needs a password"),
}


def bad_file(folder: Path, name: str) -> Path:
    content, _ = BAD_FILES[name]
    path = folder / name
    if content is None:
        paper(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user")
    else:
        path.write_bytes(content)
    return path


# -- documents that cannot be read ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_document_that_cannot_be_read_exits_2_and_stores_nothing(tmp_path: Path, name: str) -> None:
    path = bad_file(tmp_path, name)
    result = invoke("read", str(path), "--json")
    assert result.exit_code == 2, result.output
    payload = json.loads(result.stdout)
    assert payload["documents"] == []
    [failure] = payload["failures"]
    assert failure["path"] == str(path)
    assert failure["reason"].startswith(BAD_FILES[name][1])  # MuPDF's own words follow "corrupt PDF: "
    assert failure["error"] == f"{path}: {failure['reason']}"
    assert failure["type"] == ("DocumentEncrypted" if name == "locked.pdf" else "DocumentUnreadable")
    assert payload["error"] == "none of the 1 document(s) could be read"
    assert "atomloop: input error: none of the 1 document(s) could be read" in result.stderr
    assert stored() == (0, 0)


def test_every_failure_is_printed_when_none_could_be_read(tmp_path: Path) -> None:
    paths = [bad_file(tmp_path, name) for name in ("binary.pdf", "empty.pdf", "zero-pages.pdf")]
    result = invoke("read", *map(str, paths))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for path, reason in zip(paths, ("not a PDF (no %PDF- header)", "empty file", "the PDF has no pages"), strict=True):
        assert f"could not read {path}: {reason}" in " ".join(result.stdout.split())
    assert result.stderr.strip() == "atomloop: input error: none of the 3 document(s) could be read"
    assert stored() == (0, 0)


def test_some_read_and_some_failed_exits_0_listing_the_failures(tmp_path: Path) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    good = paper(folder / "good.pdf")
    bad = [bad_file(folder, name) for name in ("binary.pdf", "utf16.pdf", "empty.pdf", "locked.pdf")]
    result = invoke("read", str(folder), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [d["path"] for d in payload["documents"]] == [str(good)]
    assert [(f["compound"], f["property"], f["value"]) for f in payload["documents"][0]["facts"]] == [("SM10", "pKa", 3.1)]
    assert sorted(f["path"] for f in payload["failures"]) == sorted(map(str, bad))
    assert "error" not in payload
    assert stored() == (1, 1)


def test_a_pdf_none_of_whose_pages_can_be_read_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.literature.pages as pages

    def broken(page: Any, **options: Any) -> Any:
        raise RuntimeError("bad page tree")

    monkeypatch.setattr(pages, "read_page", broken)
    path = paper(tmp_path / "pages.pdf")
    result = invoke("read", str(path), "--json")
    assert result.exit_code == 2, result.output
    [failure] = json.loads(result.stdout)["failures"]
    assert failure["reason"] == "corrupt PDF: none of its 1 page(s) could be read (RuntimeError: bad page tree)"
    assert stored() == (0, 0)


def test_a_file_that_cannot_be_opened_is_a_failure_naming_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = paper(tmp_path / "guarded.pdf")
    real = Path.read_bytes

    def guarded(self: Path) -> bytes:
        if self.name == "guarded.pdf":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    result = invoke("read", str(path), "--json")
    assert result.exit_code == 2, result.output
    assert [f["reason"] for f in json.loads(result.stdout)["failures"]] == ["permission denied"]
    assert stored() == (0, 0)


def test_markup_in_a_title_or_a_file_name_is_printed_as_text(tmp_path: Path) -> None:
    good = paper(tmp_path / "[red]good.pdf", title="[/b]inding of [3H]-ligands")  # a closing tag: rich would raise
    bad = bad_file(tmp_path, "empty.pdf").rename(tmp_path / "[bold]empty.pdf")
    result = invoke("read", str(good), str(bad))
    assert result.exit_code == 0, result.output
    assert "[/b]inding of [3H]-ligands" in result.stdout
    assert f"could not read {bad}: empty file" in " ".join(result.stdout.split())
    assert stored() == (1, 1)


# -- paths that cannot be used ----------------------------------------------------------------------------------


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a.pdf").symlink_to(tmp_path / "b.pdf")
    (tmp_path / "b.pdf").symlink_to(tmp_path / "a.pdf")
    return tmp_path / "a.pdf"


def _dangling(tmp_path: Path) -> Path:
    (tmp_path / "link.pdf").symlink_to(tmp_path / "gone.pdf")
    return tmp_path / "link.pdf"


def _fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(tmp_path / "pipe.pdf")  # reading it would block forever
    return tmp_path / "pipe.pdf"


def _no_pdf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "no-papers"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a paper")
    (folder / "folder.pdf").mkdir()  # a folder named like a PDF is no PDF
    return folder


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "absent.pdf", "{path}: no such file or folder"),
        (lambda tmp: tmp / "absent" / "x.pdf", "{path}: no such file or folder"),
        (_loop, "{path}: a loop of symbolic links"),
        (_dangling, "{path}: a broken symbolic link (to {tmp}/gone.pdf)"),
        (_fifo, "{path}: not a regular file or folder (a pipe, socket or device)"),
        (lambda tmp: Path("/dev/zero"), "{path}: not a regular file or folder (a pipe, socket or device)"),
        (_no_pdf_folder, "no PDF found in {path}"),
    ],
    ids=["missing", "missing-folder", "symlink-loop", "dangling-symlink", "fifo", "device", "folder-without-pdfs"],
)
def test_a_path_that_cannot_be_used_exits_2_naming_it(tmp_path: Path, make: Any, reason: str) -> None:
    path = make(tmp_path)
    if not os.path.lexists(path) and path.is_absolute() and str(path).startswith("/dev/"):
        pytest.skip(f"no {path} here")
    result = invoke("read", str(path), "--json")
    assert result.exit_code == 2, result.output
    message = reason.format(path=path, tmp=tmp_path)
    assert json.loads(result.stdout) == {"error": message, "type": "ToolInputError"}
    assert result.stderr.strip() == f"atomloop: input error: {message}"
    assert stored() == (0, 0)


def test_a_bad_path_beside_a_good_one_reads_nothing(tmp_path: Path) -> None:
    """The paths are checked before anything is read: the user fixes the command and runs it again."""
    good = paper(tmp_path / "good.pdf")
    result = invoke("read", str(good), str(tmp_path / "absent.pdf"))
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'absent.pdf'}: no such file or folder" in result.stderr
    assert stored() == (0, 0)


def test_a_folder_with_a_symlink_loop_is_read_once(tmp_path: Path) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    paper(folder / "good.pdf")
    (folder / "again").symlink_to(folder)  # papers/again/again/... must not be followed forever
    _loop(folder)
    _dangling(folder)
    result = invoke("read", str(folder), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [Path(d["path"]).name for d in payload["documents"]] == ["good.pdf"]
    assert payload["failures"] == []
    assert stored() == (1, 1)


def test_a_folder_that_cannot_be_listed_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    paper(folder / "good.pdf")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder else real(p, mode, **kw))
    result = invoke("read", str(folder))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"atomloop: input error: {folder}: permission denied (the folder cannot be listed)"
    assert stored() == (0, 0)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_exits_2(tmp_path: Path) -> None:
    path = paper(tmp_path / "private.pdf")
    path.chmod(0)
    try:
        result = invoke("read", str(path))
    finally:
        path.chmod(0o600)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"atomloop: input error: {path}: permission denied"
    assert stored() == (0, 0)
