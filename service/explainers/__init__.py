"""Explainers: one registry, no magic dispatch."""
