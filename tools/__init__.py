"""Typed capabilities the agent calls (literature, prediction, docking, FEP, experiments)."""
