"""prl's exception hierarchy, in one place.

Every error a user can cause (a bad config key or value, a bad data file, a run that cannot go on)
is a :class:`PrlError`, so a CLI catches one class and prints one line. The subclasses also derive
from the builtin a caller would expect (``ValueError``, ``RuntimeError``), so ``except ValueError``
keeps working.
"""

from __future__ import annotations

__all__ = ["PrlError", "ConfigError", "DataError", "TrainingAborted", "DiskFullError", "RunDirBusy"]


class PrlError(Exception):
    """Base class of prl's own errors: the message is meant for the user, one line, naming the key,
    file, row or column at fault."""


class ConfigError(PrlError, ValueError):
    """A bad configuration: unknown key, wrong type, value out of range, missing file."""


class DataError(PrlError, ValueError):
    """Bad data: missing file or column, empty file, empty prompt."""


class TrainingAborted(PrlError, RuntimeError):
    """The run cannot go on (e.g. too many consecutive steps with a non-finite loss or gradient)."""


class DiskFullError(PrlError, OSError):
    """No space left where prl writes (a checkpoint, the final model, a log); partial files removed."""


class RunDirBusy(PrlError, RuntimeError):
    """Another live run holds the run directory's lock."""
