"""AtomLoop's knowledge store: what we know, with provenance. The ground floor: imports nothing of ours.

Heavy dependencies (RDKit, pint, SQLAlchemy) load on first use, not on import of this package.
"""
