"""Simulated instruments over a seeded world whose ground truth comes from real data."""
