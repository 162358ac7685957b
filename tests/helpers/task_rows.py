"""A task row as a create writes it, for tests that make task databases directly."""

FIELDS = {
    "id": "t" * 22,
    "workspace": "ws",
    "project": "p",
    "title": "Fix it",
    "branch": "fix-it",
    "branch_given": 0,
    "prompt": "fix it",
    "agent": "mock",
    "provider": "sim",
}
