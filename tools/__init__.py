"""Typed capabilities the agent calls: the store, literature, prediction, acquisition, experiments, campaigns, 3D structures and compute jobs."""
