"""Docking: receptor and ligand preparation that works offline, engines behind one Protocol, poses in the store."""
