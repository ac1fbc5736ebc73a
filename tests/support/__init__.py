"""Helpers shared by the unit and integration tests (not part of the built collection)."""
