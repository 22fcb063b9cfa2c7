"""Text layout: reading order across columns, margin line numbers, running headers and footers, sections,
title and authors. Pure functions over ``raw`` data (no PyMuPDF here).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from tools.literature.models import Section
from tools.literature.raw import RawBlock, RawLine, RawPage

_LINE_NUMBER_RE = re.compile(r"\d{1,4}")


def remove_line_numbers(blocks: Sequence[RawBlock]) -> list[RawBlock]:
    """Drop margin line numbers: digit-only lines stacked in one narrow vertical strip (>= 5 of them)."""
    candidates: dict[int, list[RawLine]] = defaultdict(list)
    for block in blocks:
        for line in block.lines:
            if _LINE_NUMBER_RE.fullmatch(line.text.strip()) and line.bbox[2] - line.bbox[0] < 30:
                candidates[round(line.bbox[2] / 6)].append(line)
    doomed: set[int] = set()
    for lines in candidates.values():
        if len(lines) < 5:
            continue
        ordered = sorted(lines, key=lambda ln: ln.bbox[1])
        numbers = [int(ln.text.strip()) for ln in ordered]
        rising = sum(1 for a, b in zip(numbers, numbers[1:], strict=False) if b > a)
        if rising >= 0.8 * (len(numbers) - 1):
            doomed.update(id(ln) for ln in lines)
    if not doomed:
        return list(blocks)
    kept: list[RawBlock] = []
    for block in blocks:
        kept_lines = tuple(ln for ln in block.lines if id(ln) not in doomed)
        if kept_lines:
            kept.append(replace(block, lines=kept_lines) if len(kept_lines) != len(block.lines) else block)
    return kept


def order_blocks(blocks: Sequence[RawBlock]) -> list[RawBlock]:
    """Reading order: single column top to bottom; two columns left column first, then right, in bands
    separated by full-width blocks (title, abstract, wide figures)."""
    if len(blocks) < 2:
        return list(blocks)
    x_min = min(b.bbox[0] for b in blocks)
    x_max = max(b.bbox[2] for b in blocks)
    mid = (x_min + x_max) / 2
    tol = (x_max - x_min) * 0.02

    def kind(block: RawBlock) -> str:
        x0, _, x1, _ = block.bbox
        if x1 <= mid + tol:
            return "L"
        if x0 >= mid - tol:
            return "R"
        return "F"

    kinds = {id(b): kind(b) for b in blocks}
    chars = Counter[str]()
    for block in blocks:
        chars[kinds[id(block)]] += len(block.text)
    total = sum(chars.values()) or 1
    if chars["L"] < 0.2 * total or chars["R"] < 0.2 * total:
        return sorted(blocks, key=lambda b: (round(b.bbox[1], 1), b.bbox[0]))
    fulls = sorted((b for b in blocks if kinds[id(b)] == "F"), key=lambda b: b.bbox[1])
    columns = [b for b in blocks if kinds[id(b)] != "F"]
    ordered: list[RawBlock] = []
    previous = -math.inf
    for separator in [*fulls, None]:
        limit = separator.bbox[1] if separator is not None else math.inf
        band = [b for b in columns if previous <= b.bbox[1] < limit]
        ordered.extend(sorted((b for b in band if kinds[id(b)] == "L"), key=lambda b: b.bbox[1]))
        ordered.extend(sorted((b for b in band if kinds[id(b)] == "R"), key=lambda b: b.bbox[1]))
        if separator is not None:
            ordered.append(separator)
            previous = limit
    return ordered


# --- running headers and footers ------------------------------------------------------------------------

_ZONE = 0.12  # top and bottom fraction of the page where running headers and footers live


def _running_key(line: RawLine, page: RawPage) -> tuple[str, str] | None:
    top, bottom = line.bbox[1], line.bbox[3]
    if bottom <= page.height * _ZONE:
        zone = "top"
    elif top >= page.height * (1 - _ZONE):
        zone = "bottom"
    else:
        return None
    text = re.sub(r"\d+", "#", line.text.lower())
    text = re.sub(r"\s+", " ", text).strip()
    return (zone, text) if text else None


def strip_running_lines(pages: Sequence[RawPage]) -> tuple[list[RawPage], int]:
    """Remove lines repeated near the top or bottom of most pages (journal headers, page numbers, footers).

    A line is running when the same text (digits ignored, so page numbers match) sits in the same zone on
    at least 3 pages and on at least 40% of the pages that have text.
    """
    with_text = [p for p in pages if p.blocks]
    if len(with_text) < 3:
        return list(pages), 0
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)
    for page in with_text:
        for block in page.blocks:
            for line in block.lines:
                key = _running_key(line, page)
                if key is not None:
                    seen[key].add(page.number)
    threshold = max(3, math.ceil(0.4 * len(with_text)))
    running = {key for key, numbers in seen.items() if len(numbers) >= threshold}
    if not running:
        return list(pages), 0
    removed = 0
    out: list[RawPage] = []
    for page in pages:
        blocks: list[RawBlock] = []
        for block in page.blocks:
            lines = tuple(ln for ln in block.lines if _running_key(ln, page) not in running)
            removed += len(block.lines) - len(lines)
            if lines:
                blocks.append(replace(block, lines=lines) if len(lines) != len(block.lines) else block)
        out.append(replace(page, blocks=tuple(blocks)))
    return out, removed


# --- paragraphs ---------------------------------------------------------------------------------------


def join_lines(lines: Sequence[RawLine]) -> tuple[str, list[tuple[int, int, RawLine]]]:
    """A block's lines as one paragraph (hyphenated line breaks joined), with each line's character span."""
    text = ""
    spans: list[tuple[int, int, RawLine]] = []
    for line in lines:
        piece = line.text.strip()
        if not piece:
            continue
        if text:
            if text.endswith("-") and not text.endswith(" -") and piece[:1].islower():
                text = text[:-1]
            else:
                text += " "
        start = len(text)
        text += piece
        spans.append((start, len(text), line))
    return text, spans


# --- sections, title, authors ----------------------------------------------------------------------------

_KNOWN_HEADINGS = re.compile(
    r"(?:\d+(?:\.\d+)*\.?\s+|[IVX]+\.\s+|[A-H]\.\s+)?"
    r"(?:abstract|introduction|background|methods?|materials\s+and\s+methods|experimental(?:\s+(?:section|details|methods))?|"
    r"results(?:\s+and\s+discussion)?|discussion|conclusions?|summary|references|bibliography|acknowledge?ments?|"
    r"supporting\s+information|supplementary\s+(?:information|material)|appendix|author\s+contributions|"
    r"funding|competing\s+interests|conflicts?\s+of\s+interest|data\s+availability)\.?",
    re.IGNORECASE,
)
_NUMBERED_HEADING = re.compile(r"(?:\d+(?:\.\d+){0,3}\.?|[IVX]{1,5}\.|[A-H]\.)\s+[A-Z][^\n]{2,100}")
_CAPTION = re.compile(r"(?:table|fig\.?|figure|scheme|chart)\s*(?:[A-Z]{1,3}\s*)?[\dIVX]", re.IGNORECASE)


def body_size(pages: Sequence[RawPage]) -> float:
    sizes = Counter[float]()
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _is_heading(line: RawLine, first_in_block: bool, body: float) -> bool:
    text = line.text.strip()
    letters = sum(ch.isalpha() for ch in text)
    if letters < 3 or len(text) > 120 or _CAPTION.match(text) or not re.search(r"[A-Za-z]{3,}", text):
        return False
    if _KNOWN_HEADINGS.fullmatch(text):
        return True
    if text.endswith((",", ";")) or (text.endswith(".") and not _NUMBERED_HEADING.fullmatch(text)):
        return False
    if not first_in_block:
        return False
    if line.size >= body + 1.5 and len(text) <= 100:
        return True
    if line.bold and line.size >= body - 0.5 and len(text) <= 80:
        return bool(_NUMBERED_HEADING.fullmatch(text)) or (text[:1].isupper() and letters >= 0.6 * len(text))
    return False


def build_sections(pages: Sequence[RawPage]) -> list[Section]:
    body = body_size(pages)
    sections: list[Section] = []
    heading: str = "(front matter)"
    heading_page = 1
    parts: list[str] = []

    def flush() -> None:
        text = " ".join(parts).strip()
        if text or heading != "(front matter)":
            sections.append(Section(heading=heading, page=heading_page, text=text))

    for page in pages:
        for block in page.blocks:
            paragraph: list[RawLine] = []
            previous_was_heading = False
            for index, line in enumerate(block.lines):
                if _is_heading(line, index == 0 or previous_was_heading, body):
                    if paragraph:
                        parts.append(join_lines(paragraph)[0])
                        paragraph = []
                    if previous_was_heading and not parts:
                        heading = f"{heading} {line.text.strip()}"  # a heading wrapped onto two lines
                    else:
                        flush()
                        heading, heading_page, parts = line.text.strip(), page.number, []
                    previous_was_heading = True
                else:
                    paragraph.append(line)
                    previous_was_heading = False
            if paragraph:
                parts.append(join_lines(paragraph)[0])
    flush()
    return sections


_BAD_META_TITLE = re.compile(r"(?:^untitled|\.(?:docx?|pdf|tex|dvi|indd)$|^microsoft word|^slide|^layout|^doi)", re.I)


def guess_title(metadata_title: str | None, pages: Sequence[RawPage]) -> tuple[str | None, list[RawLine]]:
    """The metadata title when it looks like one, else the largest text near the top of the first page
    with text. Returns the title and the lines it came from (for finding the authors below it)."""
    lines_used: list[RawLine] = []
    first = next((p for p in pages if p.blocks), None)
    if first is not None:
        candidates = [
            ln
            for block in first.blocks
            for ln in block.lines
            if ln.bbox[1] < first.height * 0.6 and sum(ch.isalpha() for ch in ln.text) >= 3 and not _CAPTION.match(ln.text)
        ]
        if candidates:
            biggest = max(ln.size for ln in candidates)
            top = [ln for ln in candidates if ln.size >= biggest - 0.5]
            top.sort(key=lambda ln: ln.bbox[1])
            # consecutive lines of the title size, vertically close to the first one
            lines_used = [top[0]]
            for ln in top[1:]:
                if ln.bbox[1] - lines_used[-1].bbox[3] < ln.size * 1.5:
                    lines_used.append(ln)
                else:
                    break
    meta = (metadata_title or "").strip()
    meta = re.sub(r"^microsoft word\s*-\s*", "", meta, flags=re.I)
    if len(meta) >= 10 and not _BAD_META_TITLE.search(meta) and "_" not in meta:
        return meta, lines_used
    if lines_used:
        title = re.sub(r"\s+", " ", " ".join(ln.text.strip() for ln in lines_used)).strip()
        if len(title) >= 8:
            return title, lines_used
    return None, lines_used


_NAME_RE = re.compile(r"(?:[A-Z][\w'’\-]*\.?|[A-Z]\.(?:\s?-?[A-Z]\.)*|(?:van|von|de|der|den|di|da|la|le|du|del|dos)\b)")
_AFFILIATION_WORDS = re.compile(r"(?i)\b(?:university|institute|department|laboratory|school|college|center|centre|inc\.|ltd|gmbh|hospital|received|accepted|published|abstract|keywords|e-?mail|@)")


def guess_authors(metadata_author: str | None, pages: Sequence[RawPage], title_lines: Sequence[RawLine]) -> list[str]:
    """Author names: the metadata author field, else the line(s) printed just below the title."""
    meta = (metadata_author or "").strip()
    if meta and not re.search(r"(?i)^(?:admin|user|owner|unknown|author)$", meta):
        return _split_names(meta)
    first = next((p for p in pages if p.blocks), None)
    if first is None or not title_lines:
        return []
    below = title_lines[-1].bbox[3]
    following = [
        ln
        for block in first.blocks
        for ln in block.lines
        if ln.bbox[1] >= below - 1 and ln.bbox[1] < below + 120 and all(ln is not t for t in title_lines)
    ]
    following.sort(key=lambda ln: ln.bbox[1])
    names: list[str] = []
    for ln in following[:6]:
        if _AFFILIATION_WORDS.search(ln.text) or _CAPTION.match(ln.text) or len(ln.text) > 300:
            break
        found = _split_names(ln.text)
        if not found and names:
            break  # the author lines are over
        names.extend(found)
    return names if len(names) <= 40 else []


def _split_names(text: str) -> list[str]:
    cleaned = re.sub(r"(?<=[A-Za-zÀ-ÿ.])[\d*†‡§¶#,]+(?=\s*(?:,|and\b|&|$|\s))", lambda m: "," if "," in m.group() else "", text)
    cleaned = re.sub(r"[*†‡§¶#]", "", cleaned)
    names: list[str] = []
    for part in re.split(r"\s*(?:,|;|\band\b|&)\s*", cleaned):
        part = re.sub(r"\s+", " ", part).strip(" .")
        tokens = part.split()
        if not 2 <= len(tokens) <= 6:
            continue
        if all(_NAME_RE.fullmatch(tok) or _NAME_RE.fullmatch(tok + ".") for tok in tokens):
            names.append(part)
    return names
