"""The cluster actor: the hosts of the convention, and where each task lives."""
