"""Exception type for bad simulator input (unknown task, bad split, bad variation)."""


class SimError(ValueError):
    """A user-facing simulator error. The message names the bad value and the valid choices."""
