"""One exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class TucoError(Exception):
    """A problem with the user's input (models, files, flags); the message names the fix."""
