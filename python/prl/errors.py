"""prl's exception hierarchy, in one place.

Every error a user can cause (a bad config key or value, a bad data file, a run that cannot go on)
is a :class:`PrlError`, so a CLI catches one class and prints one line. The subclasses also derive
from the builtin a caller would expect (``ValueError``, ``RuntimeError``), so ``except ValueError``
keeps working.
"""

from __future__ import annotations

import difflib
from typing import Mapping, TypeVar

T = TypeVar("T")

__all__ = ["lookup", "PrlError", "ConfigError", "DataError", "TrainingAborted", "DiskFullError", "RunDirBusy"]


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


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    """``table[name]``, or a ValueError naming ``what``, the closest registered name and all of them
    (the registries of estimators, process-reward sources and step checkers)."""
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {what} {name!r}{hint}; registered: {', '.join(table)}") from None
