"""Fakes, the tiny model and test-only access to internals: imported by tests and bench, never by the daemon."""
