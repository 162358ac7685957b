"""Helpers shared by test modules, by topic. A test module imports helpers from here, from tests/server.py
or from a conftest fixture, never from another test module (whose collection would run its tests twice
over, and whose edits would break tests elsewhere)."""
