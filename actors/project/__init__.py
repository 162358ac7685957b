"""The project actor and what it owns: its registry, and on each host a mirror and a pool of task actors."""
