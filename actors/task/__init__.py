"""The task actor: the single writer of one task's database, its step machine, its store and reads."""
