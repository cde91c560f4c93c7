"""Type stub of the compiled extension (kept honest with `python -m mypy.stubtest prl_verifier`)."""

from typing import Final, final

__all__ = [
    "Verdict", "grade", "_grade_columns", "_split_steps_flat", "_check_mode", "_resolve_threads",
    "VerifierError", "LengthMismatchError", "InvalidModeError", "InvalidOffsetsError", "InvalidArgumentError",
    "InvalidColumnError", "DEFAULT_BUDGET_MS", "__version__",
]

__version__: Final[str]
DEFAULT_BUDGET_MS: Final[float]

class VerifierError(ValueError): ...
class LengthMismatchError(VerifierError): ...
class InvalidModeError(VerifierError): ...
class InvalidOffsetsError(VerifierError): ...
class InvalidArgumentError(VerifierError): ...
class InvalidColumnError(VerifierError): ...

@final
class Verdict:
    """The verdict on one (prediction, gold) pair."""

    @property
    def correct(self) -> bool: ...
    @property
    def status(self) -> str:
        """One of "correct", "wrong", "no_answer", "unparsable", "timeout", "undecided"."""
    @property
    def extracted(self) -> str | None: ...
    @property
    def normalized_gold(self) -> str | None: ...
    def __new__(
        cls, correct: bool, status: str, extracted: str | None = None, normalized_gold: str | None = None
    ) -> Verdict: ...
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> tuple[type[Verdict], tuple[bool, str, str | None, str | None]]: ...

def grade(
    preds: list[str],
    golds: list[str],
    *,
    threads: int | None = None,
    budget_ms: float = 50.0,
    last_number: bool = True,
    strict: bool = False,
) -> list[Verdict]:
    """Grade each prediction against its gold answer (bare answer, GSM8K or MATH solution)."""

def _grade_columns(
    preds: list[str],
    golds: list[str],
    *,
    threads: int | None = None,
    budget_ms: float = 50.0,
    last_number: bool = True,
    semantic_only: bool = False,
    strict: bool = False,
) -> tuple[list[bool], list[str], list[str | None], list[str | None]]: ...
def _split_steps_flat(
    texts: list[str], offsets: bytes, counts: list[int], mode: str, *, threads: int | None = None
) -> bytes: ...
def _check_mode(mode: str) -> None: ...
def _resolve_threads(threads: int | None = None) -> int: ...
