"""The workspace actor: its projects, the task projection every list reads, and its live-agent slots."""
