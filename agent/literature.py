"""Storing what was read from documents: a ``Document`` and its ``Fact``s, once per file (by content hash) and
once per fact (by a fingerprint of its content and place), with the page, bounding box and snippet."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import select

from knowledge.models import Document, Fact
from knowledge.store import KnowledgeStore, StoreWriter


def fact_fingerprint(fact: dict[str, Any]) -> str:
    """The content hash that stores a fact once. Conditions count only when there are some, so a fact read before
    facts had conditions keeps its hash (and reading its document again adds nothing)."""
    keys = ("compound", "property", "value", "value_high", "qualifier", "uncertainty", "unit", "page", "snippet")
    content = {k: fact.get(k) for k in keys}
    if fact.get("conditions"):
        content["conditions"] = fact["conditions"]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def store_document(store: KnowledgeStore, document: dict[str, Any]) -> tuple[int, int]:
    """Write a read document (``ReadDocument.model_dump(mode='json')``); returns (document id, new facts)."""
    return store.write(lambda writer: write_document(writer, document))


def write_document(writer: StoreWriter, document: dict[str, Any]) -> tuple[int, int]:
    """The same, inside an open transaction (the agent's record step)."""
    row = writer.session.exec(select(Document).where(Document.sha256 == document["sha256"])).first()
    if row is None:
        row = writer.add(
            Document(
                sha256=document["sha256"],
                path=str(document["path"]),
                title=document.get("title"),
                authors=list(document.get("authors") or []),
                pages=document.get("pages", 0),
                flagged_pages=[page for page, _ in document.get("flagged_pages", [])],
            )
        )
    document_id = row.id
    assert document_id is not None  # a stored (or just flushed) row has its id
    existing = set(writer.session.exec(select(Fact.fingerprint).where(Fact.document_id == document_id)))
    added = 0
    for fact in document.get("facts", []):
        fingerprint = fact_fingerprint(fact)
        if fingerprint in existing:
            continue
        molecule_id = writer.upsert_molecule(fact["smiles"]).id if fact.get("smiles") else None
        writer.add(
            Fact(
                document_id=document_id,
                molecule_id=molecule_id,
                compound=fact.get("compound"),
                property=fact["property"],
                value=fact.get("value"),
                value_high=fact.get("value_high"),
                qualifier=fact.get("qualifier", "="),
                uncertainty=fact.get("uncertainty"),
                unit=fact.get("unit"),
                page=fact["page"],
                bbox=list(fact["bbox"]) if fact.get("bbox") else None,
                snippet=fact["snippet"][:2000],
                conditions=dict(fact["conditions"]) if fact.get("conditions") else None,
                registered=bool(fact.get("registered", True)),
                fingerprint=fingerprint,
            )
        )
        existing.add(fingerprint)
        added += 1
    return document_id, added
