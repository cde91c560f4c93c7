"""Reward functions: one signature, one registry.

Every reward function is ``reward(completions: list[str], references: list[str], **kw) -> list[float | None]``
(None = "cannot judge"; the trainer replaces it by ``reward.none_value`` and counts it). Names map to
functions in :data:`REWARD_FUNCS` and nowhere else:

  verifier     1.0 if the Rust verifier (``prl_verifier.grade``) judges the answer correct, else 0.0
  exact_match  1.0 if the extracted answer equals the gold string after whitespace normalisation
  format       1.0 if the completion holds a closed ``\\boxed{...}``, else 0.0
  code_tests   the share of the reference's unit tests the completion's program passes (``reward.code.mode
               = fraction``), or 1.0 only when all pass (``all``); run in prl_verifier.code's sandbox

Graders (:func:`grade`) return per-sample verdicts (correct, status, extracted) for the accuracy and
the verifier status counts the trainer logs; the ``verifier`` reward reuses verdicts passed as
``verdicts=`` so the verifier runs once per batch. ``grader="code"`` grades programs against the
test spec in the reference (prl_verifier.code: statuses passed, failed, error, timeout, no_code,
sandbox_error; ``code=`` the reward.code settings) and ``code_tests`` reuses those verdicts.
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["REWARD_FUNCS", "register_reward", "Scored", "score", "Verdict", "grade", "get_reward_fn", "verifier_reward", "exact_match_reward",
           "format_reward", "code_tests_reward", "extract_answer", "combine_rewards", "grader_statuses"]

RewardFn = Callable[..., list]
def grader_statuses(grader: str) -> tuple[str, ...]:
    """The statuses a grader's verdicts take (the trainer counts each one per step); the one list of
    each lives beside its grader: prl_verifier.STATUSES (math, also exact_match) and
    prl_verifier.code.STATUSES (code)."""
    if grader == "code":
        from prl_verifier.code import STATUSES as code_statuses

        return tuple(code_statuses)
    from prl_verifier import STATUSES

    return tuple(STATUSES)


@dataclass(frozen=True)
class Verdict:
    """Same fields as prl_verifier's verdicts."""

    correct: bool
    status: str  # correct | wrong | no_answer | unparsable | timeout
    extracted: str | None
    normalized_gold: str | None


def _require_verifier() -> Any:
    try:
        import prl_verifier
    except ImportError as e:
        raise ImportError(
            "the 'verifier' reward needs the Rust verifier prl_verifier: build it with "
            "`cd rust_verifier && maturin develop --release --uv` (or scripts/install.sh), or use "
            "reward.funcs=[exact_match] reward.grader=exact_match") from e
    return prl_verifier


def _check_lengths(completions: Sequence[str], references: Sequence[str]) -> None:
    if len(completions) != len(references):
        raise ValueError(f"reward: {len(completions)} completions but {len(references)} references")


# ------------------------------------------------------------------------------------- extraction
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} with balanced braces (None if absent/unclosed)."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i]
            i += 1
    return None


def extract_answer(text: str, *, last_number: bool = True) -> str | None:
    """Last \\boxed{} content, else text after '####', else (optionally) the last number."""
    b = _last_boxed(text)
    if b is not None:
        return b.strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip() or None
    if last_number:
        nums = _NUMBER.findall(text)
        if nums:
            return nums[-1]
    return None


def _norm(s: str) -> str:
    return " ".join(s.replace("$", "").split()).rstrip(".")


def _exact_verdicts(completions: Sequence[str], references: Sequence[str], last_number: bool = True) -> list[Verdict]:
    out = []
    for c, r in zip(completions, references):
        gold = extract_answer(r, last_number=False) or r
        ex = extract_answer(c, last_number=last_number)
        if ex is None:
            out.append(Verdict(False, "no_answer", None, _norm(gold)))
            continue
        ok = _norm(ex) == _norm(gold)
        out.append(Verdict(ok, "correct" if ok else "wrong", ex, _norm(gold)))
    return out


# ------------------------------------------------------------------------------------- graders
def grade(completions: Sequence[str], references: Sequence[str], *, grader: str = "verifier",
          threads: int | None = None, last_number: bool = True, code: Any = None) -> list[Any]:
    """Per-sample verdicts with ``.correct``, ``.status``, ``.extracted``, ``.normalized_gold``.

    ``last_number``: with no \\boxed{} / "final answer is" / "####", take the last number as the answer.
    ``grader="code"``: references are test specs, ``code`` the sandbox settings (reward.code).
    """
    _check_lengths(completions, references)
    if grader == "code":
        return _grade_code(completions, references, code)
    if grader == "verifier":
        pv = _require_verifier()
        return list(pv.grade(list(completions), list(references), threads=threads, last_number=last_number))
    if grader == "exact_match":
        return _exact_verdicts(completions, references, last_number)
    raise ValueError(f"reward.grader={grader!r} is not one of 'verifier', 'exact_match', 'code'")


def _grade_code(completions: Sequence[str], references: Sequence[str], code: Any) -> list[Any]:
    try:
        from prl_verifier.code import grade_code
    except ImportError as e:
        raise ImportError("reward.grader=code needs prl_verifier.code (rust_verifier/python): "
                          "`cd rust_verifier && maturin develop --release --uv` (or scripts/install.sh)") from e
    return grade_code(list(completions), list(references), config=code)


# ------------------------------------------------------------------------------------- rewards
def verifier_reward(completions: list[str], references: list[str], *, verdicts: Sequence[Any] | None = None,
                    threads: int | None = None, last_number: bool = True, **kw: Any) -> list[float | None]:
    """1.0 when prl_verifier grades the completion correct, else 0.0 (``verdicts=`` reuses a grading)."""
    _check_lengths(completions, references)
    if verdicts is None or kw.get("grader", "verifier") != "verifier":
        verdicts = grade(completions, references, grader="verifier", threads=threads, last_number=last_number)
    return [1.0 if v.correct else 0.0 for v in verdicts]


def exact_match_reward(completions: list[str], references: list[str], *, last_number: bool = True,
                       **kw: Any) -> list[float | None]:
    """1.0 when the extracted answer equals the gold answer string (whitespace-normalised)."""
    _check_lengths(completions, references)
    return [1.0 if v.correct else 0.0 for v in _exact_verdicts(completions, references, last_number)]


def format_reward(completions: list[str], references: list[str], **kw: Any) -> list[float | None]:
    """1.0 when the completion holds a closed \\boxed{...}, else 0.0."""
    _check_lengths(completions, references)
    return [1.0 if _last_boxed(c) is not None else 0.0 for c in completions]


def code_tests_reward(completions: list[str], references: list[str], *, verdicts: Sequence[Any] | None = None,
                      grader: str | None = None, code: Any = None, **kw: Any) -> list[float | None]:
    """Share of the reference's unit tests the completion's program passes (``code.mode='fraction'``,
    default) or 1.0 only when all pass (``'all'``); None (cannot judge) on sandbox_error. Reuses
    ``verdicts=`` when they come from ``grader='code'``, so the programs run once per batch."""
    _check_lengths(completions, references)
    mode = (code.get("mode") if isinstance(code, dict) else getattr(code, "mode", None)) or "fraction"
    if verdicts is None or grader != "code":
        verdicts = _grade_code(completions, references, code)
    return [v.reward(mode) for v in verdicts]


REWARD_FUNCS: dict[str, RewardFn] = {
    "verifier": verifier_reward,
    "exact_match": exact_match_reward,
    "format": format_reward,
    "code_tests": code_tests_reward,
}


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator: register ``fn(completions, references, **kw) -> list[float | None]`` as the reward
    function ``name`` (then ``reward.funcs=[name]``). ``kw`` carries the batch's verdicts, the grader
    and its settings; a function that does not take ``**kw`` gets only the keywords it names."""

    def deco(fn: RewardFn) -> RewardFn:
        params = inspect.signature(fn).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            inner = fn

            @functools.wraps(inner)
            def fn(completions: list[str], references: list[str], **kw: Any) -> list:
                return inner(completions, references, **{k: v for k, v in kw.items() if k in params})

        REWARD_FUNCS[name] = fn
        return fn

    return deco


def get_reward_fn(name: str) -> RewardFn:
    if name not in REWARD_FUNCS:
        raise ValueError(f"unknown reward function {name!r}; valid: {', '.join(REWARD_FUNCS)}")
    return REWARD_FUNCS[name]


def combine_rewards(names: Sequence[str], weights: Sequence[float], completions: list[str], references: list[str],
                    *, none_value: float = 0.0, **kw: Any) -> tuple[list[float], dict[str, list[float | None]], int]:
    """Weighted sum of the named rewards. Returns (total per sample, raw values per name, #None)."""
    total = [0.0] * len(completions)
    raw: dict[str, list[float | None]] = {}
    n_none = 0
    for name, w in zip(names, weights):
        vals = get_reward_fn(name)(completions, references, **kw)
        if len(vals) != len(completions):
            raise ValueError(f"reward {name!r} returned {len(vals)} values for {len(completions)} completions")
        raw[name] = vals
        for i, v in enumerate(vals):
            if v is None:
                n_none += 1
                v = none_value
            total[i] += w * float(v)
    return total, raw, n_none


@dataclass
class Scored:
    """A batch graded and rewarded: verdicts, 0/1 correctness, summed rewards, each function's values."""

    verdicts: list[Any]
    correct: Any  # np.ndarray [N] float64 0/1
    rewards: Any  # np.ndarray [N] float64: the weighted sum of reward.funcs
    raw: dict[str, list[float | None]]
    n_none: int

    @staticmethod
    def concat(parts: Sequence["Scored"]) -> "Scored":
        """Several graded batches as one, in order."""
        import numpy as np

        if len(parts) == 1:
            return parts[0]
        return Scored([v for p in parts for v in p.verdicts], np.concatenate([p.correct for p in parts]),
                      np.concatenate([p.rewards for p in parts]),
                      {k: [v for p in parts for v in p.raw[k]] for k in parts[0].raw}, sum(p.n_none for p in parts))


def score(completions: list[str], references: list[str], reward_cfg: Any) -> Scored:
    """Grade once (``reward.grader``) and sum ``reward.funcs`` with ``reward.weights`` (they reuse the verdicts)."""
    import numpy as np

    r = reward_cfg
    verdicts = grade(completions, references, grader=r.grader, threads=r.verifier_threads,
                     last_number=r.last_number, code=r.code)
    total, raw, n_none = combine_rewards(r.funcs, r.weights, completions, references, none_value=r.none_value,
                                         verdicts=verdicts, grader=r.grader, threads=r.verifier_threads,
                                         last_number=r.last_number, code=r.code)
    return Scored(verdicts, np.array([bool(v.correct) for v in verdicts], dtype=np.float64),
                  np.asarray(total, dtype=np.float64), raw, n_none)
