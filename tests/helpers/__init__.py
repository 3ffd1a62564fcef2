"""Helpers shared by tests: builders of small real models and oracles."""
