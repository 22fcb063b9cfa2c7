"""Reading the text files users hand us (tables, SMILES lists, campaign files, corpora): one place that decides
what an encoding is, so that every reader accepts the same files and refuses the rest with the same typed error.

Accepted: UTF-8 with or without a byte-order mark, UTF-16 and UTF-32 with a byte-order mark (what spreadsheet
programs write as "Unicode text"). Refused with ``UnreadableFile``: a missing file, a folder, a file we may not
read, bytes that are not text (NUL bytes without a UTF-16/32 mark, a PDF, a pickle), and text in another encoding
(Latin-1, Windows-1252): the message says which byte, and how to fix it.
"""

from __future__ import annotations

import codecs
import csv
import stat
from pathlib import Path

from knowledge.errors import StoreInputError

_BOMS: tuple[tuple[bytes, str, str], ...] = (
    # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

MAX_TEXT_BYTES = 2 * 2**30  # a larger "text" file is a mistake, and would be read into memory whole

# the magic numbers of binary files people hand over by mistake, for a clearer message
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: export it as CSV)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)


class UnreadableFile(StoreInputError):
    """A file the user named cannot be read as text: missing, not a file, not permitted, binary, or in an
    encoding we do not guess. Nothing was read from it and nothing was written."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_text(path: Path | str, *, what: str = "file") -> str:
    """The text of ``path`` decoded by its byte-order mark (UTF-8 without one), newlines as in the file.

    ``what`` names the file in messages ("pool file", "campaign file").
    """
    return decode_text(read_bytes(path, what=what), path, what=what)


def decode_text(data: bytes, path: Path | str, *, what: str = "file") -> str:
    """``data`` (the bytes of ``path``, already read: for callers that also hash them) decoded as ``read_text``
    decodes a file."""
    path = Path(path)
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as error:
                raise UnreadableFile(path, f"the {what} starts with a {name} byte-order mark but is not valid {name} ({error.reason} at byte {error.start + len(bom)})") from None
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            raise UnreadableFile(path, f"the {what} is {kind}, not a text file")
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise UnreadableFile(path, f"the {what} holds binary data (a NUL byte at offset {offset}); give a text file (UTF-8, or UTF-16 with a byte-order mark)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = data[error.start : error.start + 1].hex()
        line = data.count(b"\n", 0, error.start) + 1
        raise UnreadableFile(
            path,
            f"the {what} is not UTF-8 text (byte 0x{byte} on line {line}); save it as UTF-8 (or UTF-16 with a byte-order mark)",
        ) from None


def read_bytes(path: Path | str, *, what: str = "file") -> bytes:
    """The bytes of ``path``, or ``UnreadableFile`` saying why there are none (missing, a folder, no permission)."""
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device would block the reader (or never end)
            raise UnreadableFile(path, f"the {what} is not a regular file (a pipe, socket or device)")
        if info.st_size > MAX_TEXT_BYTES:
            raise UnreadableFile(path, f"the {what} is {info.st_size / 2**30:.1f} GiB, more than the {MAX_TEXT_BYTES // 2**30} GiB a text file may be")
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(path, f"no such {what}") from None
    except IsADirectoryError:
        raise UnreadableFile(path, f"the {what} is a folder, not a file") from None
    except PermissionError:
        raise UnreadableFile(path, f"no permission to read the {what}") from None
    except OSError as error:
        raise UnreadableFile(path, f"cannot read the {what}: {error.strerror or error}") from None


def read_smiles_file(path: Path | str, smiles_column: str = "smiles", *, what: str = "SMILES file") -> list[str]:
    """The SMILES in ``path``, in file order: a SMILES per line (anything after the first whitespace is a name),
    or a CSV/TSV whose header has a ``smiles_column``. Blank lines and lines starting with '#' are skipped; the
    SMILES are not validated here (callers report the invalid ones)."""
    text = read_text(path, what=what)
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    first = lines[0] if lines else ""
    delimiter = "\t" if "\t" in first else ","
    header = [cell.strip().lower() for cell in first.split(delimiter)]
    if smiles_column.lower() in header:
        reader = csv.DictReader(lines, delimiter=delimiter)
        column = next(name for name in reader.fieldnames or [] if name.strip().lower() == smiles_column.lower())
        found = [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    else:
        found = [line.split()[0] for line in lines]
    if not found:
        raise UnreadableFile(path, f"the {what} holds no SMILES")
    return found
