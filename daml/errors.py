"""Exception types the CLI turns into one line on stderr and exit code 2."""


class DamlError(Exception):
    """A user-facing error: bad input, bad config, unreadable file. The message names the fix."""


class ConfigError(DamlError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(DamlError):
    """A dataset, episode, video or checkpoint is missing, corrupt or of the wrong kind."""


class ConnectionFailed(DamlError):
    """A remote endpoint (rosbridge, camera) cannot be reached."""
