"""What the user is told: `TucoError` for a mistake (the CLI prints its message on one line and
exits 2), `warn` for something legal that is probably not what was meant (one log line)."""

import logging


class TucoError(Exception):
    """A problem with the user's input (models, files, flags); the message names the fix."""


def warn(message: str) -> None:
    """One warning line on the `tuco_eval` logger (lm-eval's logging shows it)."""
    logging.getLogger("tuco_eval").warning("tuco-eval: %s", message)
