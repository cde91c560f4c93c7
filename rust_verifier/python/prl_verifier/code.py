"""Grade generated programs against unit tests in a sandbox (torch-free).

:func:`grade_code` takes responses (model text) and test specs and returns one :class:`CodeVerdict`
per response: ``status`` (one of :data:`STATUSES`), ``passed``/``total`` tests, ``correct`` (all
passed) and the program that ran. ``prl-verify code`` is its command line; ``prl.rewards`` builds the
``code_tests`` reward on it.

The program is the last fenced ```python block of the response (``py``/``python3`` or an untagged
fence too), else the whole response when it parses as Python; a spec with a ``prompt`` (HumanEval's
function header) also accepts a completion that continues it. Test specs (a dict, or its JSON text):

* assert style (HumanEval, MBPP): ``{"test": "def check(candidate): ...", "entry_point": "f"}`` runs
  ``check(f)`` after the program (one test); ``{"asserts": ["assert f(1) == 2", ...], "setup": "..."}``
  (``test_list``/``test_setup_code`` also accepted) runs each statement as one test;
* stdin/stdout (APPS, TACO, CodeContests): ``{"inputs": ["1 2\\n", ...], "outputs": ["3\\n", ...]}``, or a
  list of ``{"input": ..., "output": ...}``; each pair runs the program in its own process and passes
  when the output equals the expected one line by line, ignoring whitespace at the ends of lines and
  of the whole output.

Statuses: ``passed`` (every test), ``failed`` (a test's assertion or output was wrong), ``error``
(the program raised, exited non-zero, or broke the harness), ``timeout`` (a CPU or wall-clock limit
was hit), ``no_code`` (no program in the response), ``sandbox_error`` (not judged: the sandbox could
not run it, or the batch budget ran out before it could). Precedence over the tests of one response:
passed < failed < error < timeout < sandbox_error.

The sandbox (README, "Code rewards: what the sandbox guarantees"): each run is a fresh ``python -I``
process started in a new session, in an empty directory, with rlimits on CPU time, address space,
file size, open files and processes, a minimal environment, stdout/stderr read up to a cap, and the
whole process group killed at the wall-clock limit. Where the machine allows it (root with
CAP_SYS_ADMIN, or unprivileged user namespaces) it also gets its own network namespace (no network
at all; without one :class:`SandboxUnavailable` is raised unless ``allow_network_access=True``),
mount namespace (private tmpfs on /tmp, /var/tmp, /dev/shm; the grader's working directory and home
hidden; its own /proc) and pid namespace (it sees and signals only its own processes; killing the
run's init kills everything it started); as root also its own unprivileged uid. The harness that
runs assert tests writes results under a per-run nonce, compiles the tests and snapshots the
builtins before the program runs, and fails values whose class overrides comparison. Runs go in
parallel, ``workers`` at a time, within ``batch_seconds``; one batch at a time per process.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import marshal
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["STATUSES", "SandboxConfig", "SandboxUnavailable", "CodeVerdict", "TestSpec", "parse_tests",
           "extract_program", "grade_code", "isolation", "code_reward"]

STATUSES: tuple[str, ...] = ("passed", "failed", "error", "timeout", "no_code", "sandbox_error")
_RANK = {"pass": 0, "fail": 1, "error": 2, "timeout": 3, "sandbox_error": 4}
_OUTCOME_STATUS = {"pass": "passed", "fail": "failed", "error": "error", "timeout": "timeout",
                   "sandbox_error": "sandbox_error"}
_CHILD_SRC = (Path(__file__).with_name("_sandbox_child.py")).read_text()
_UID_BASE = 1_000_000_000  # + pid * 256 + slot (< 2**31): one private uid per concurrent run (root only)


class SandboxUnavailable(RuntimeError):
    """The machine cannot isolate programs as asked (e.g. no network namespace)."""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of one run (one program with its assert tests, or one stdin/stdout pair) and of a batch."""

    cpu_seconds: float = 4.0  # RLIMIT_CPU of each process (SIGXCPU, then SIGKILL)
    wall_seconds: float = 8.0  # wall clock from start; then the process group is killed
    memory_mb: int = 1024  # RLIMIT_AS
    file_size_mb: int = 16  # RLIMIT_FSIZE
    tmpfs_mb: int = 64  # size of each private tmpfs (/tmp, /var/tmp, /dev/shm) where mounted
    max_processes: int = 32  # RLIMIT_NPROC (per run's own uid as root; added to the user's count otherwise)
    max_output_bytes: int = 1 << 20  # stdout (and stderr) read at most this much; more kills the run
    workers: int | None = None  # concurrent runs (default: the CPUs this process may use)
    batch_seconds: float | None = 600.0  # budget of one grade_code call; later runs are not judged
    allow_network_access: bool = False  # run even where no network namespace can be made
    python: str | None = None  # interpreter of the runs (default: this one if the sandbox uid can run it, else python3)
    hide_paths: tuple[str, ...] | None = None  # hidden in the mount namespace (default: cwd, home, /root)

    @classmethod
    def from_any(cls, cfg: Any = None, **overrides: Any) -> "SandboxConfig":
        """From a SandboxConfig, a mapping, or any object with some of these attributes (prl's config)."""
        vals: dict[str, Any] = {}
        if isinstance(cfg, Mapping):
            vals.update({k: v for k, v in cfg.items() if k in _FIELDS})
        elif cfg is not None:
            vals.update({k: getattr(cfg, k) for k in _FIELDS if hasattr(cfg, k)})
        vals.update({k: v for k, v in overrides.items() if k in _FIELDS})
        if vals.get("hide_paths") is not None:
            vals["hide_paths"] = tuple(vals["hide_paths"])
        c = cls(**vals)
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "file_size_mb", "tmpfs_mb", "max_processes",
                     "max_output_bytes"):
            if not getattr(c, name) > 0:
                raise ValueError(f"sandbox {name} must be > 0, got {getattr(c, name)!r}")
        if c.workers is not None and c.workers < 1:
            raise ValueError(f"sandbox workers must be >= 1, got {c.workers}")
        if c.batch_seconds is not None and c.batch_seconds <= 0:
            raise ValueError(f"sandbox batch_seconds must be > 0 (or None), got {c.batch_seconds}")
        return c


_FIELDS = {f.name for f in dataclasses.fields(SandboxConfig)}


@dataclass(frozen=True)
class TestSpec:
    kind: str  # "assert" | "stdio"
    tests: tuple[str, ...] = ()  # assert statements (assert kind)
    setup: str = ""  # code run after the program, before the tests (assert kind)
    inputs: tuple[str, ...] = ()  # stdio kind
    outputs: tuple[str, ...] = ()
    entry_point: str | None = None
    prompt: str | None = None  # a prefix a completion may continue (HumanEval's function header)

    @property
    def total(self) -> int:
        return len(self.tests) if self.kind == "assert" else len(self.inputs)


@dataclass(frozen=True)
class CodeVerdict:
    """One response's grading. ``extracted`` is the program that ran (None: no code)."""

    correct: bool
    status: str
    passed: int
    total: int
    extracted: str | None
    detail: str = ""
    seconds: float = 0.0
    normalized_gold: None = None  # same fields as the answer verifier's verdicts
    outcomes: tuple[str, ...] = field(default=(), repr=False)

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def reward(self, mode: str = "fraction") -> float | None:
        """fraction of tests passed (mode 'fraction') or 1.0 only when all pass ('all'); None when not judged."""
        if self.status == "sandbox_error":
            return None
        if mode == "all":
            return 1.0 if self.correct else 0.0
        if mode == "fraction":
            return self.fraction
        raise ValueError(f"code reward mode {mode!r} is not 'fraction' or 'all'")


def code_reward(verdicts: Iterable[CodeVerdict], mode: str = "fraction") -> list[float | None]:
    return [v.reward(mode) for v in verdicts]


# ------------------------------------------------------------------------------------- test specs
def _texts(v: Any, what: str) -> tuple[str, ...]:
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise ValueError(f"{what} must be a list of strings")
    out = []
    for x in v:
        if isinstance(x, (list, tuple)):  # APPS stores some inputs as lists of lines
            x = "\n".join(str(y) for y in x)
        if not isinstance(x, str):
            x = json.dumps(x) if not isinstance(x, (int, float)) else str(x)
        out.append(x)
    return tuple(out)


def parse_tests(spec: Any) -> TestSpec:
    """A :class:`TestSpec` from a dict / list (or its JSON text). Raises ValueError saying what is wrong."""
    if isinstance(spec, TestSpec):
        return spec
    if isinstance(spec, (bytes, bytearray)):
        spec = spec.decode("utf-8")
    if isinstance(spec, str):
        s = spec.strip()
        if not s:
            raise ValueError("empty test spec")
        try:
            spec = json.loads(s)
        except json.JSONDecodeError:
            try:
                spec = ast.literal_eval(s)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValueError("the test spec is neither JSON nor a Python literal "
                                 "(expected {\"test\", \"entry_point\"}, {\"asserts\"} or {\"inputs\", \"outputs\"})") from None
    if isinstance(spec, list):  # LiveCodeBench style: [{"input": ..., "output": ...}, ...]
        if not spec or not all(isinstance(t, Mapping) and "input" in t and "output" in t for t in spec):
            raise ValueError("a list test spec must hold {\"input\", \"output\"} objects")
        spec = {"inputs": [t["input"] for t in spec], "outputs": [t["output"] for t in spec]}
    if not isinstance(spec, Mapping):
        raise ValueError(f"a test spec must be an object, got {type(spec).__name__}")
    spec = {k: v for k, v in spec.items() if v is not None}  # Arrow structs fill other rows' keys with nulls
    entry = spec.get("entry_point") or None
    prompt = spec.get("prompt") or None
    if "inputs" in spec or "outputs" in spec:
        if spec.get("fn_name"):
            raise ValueError("call-based APPS tests (fn_name) are not supported; use stdin/stdout pairs or asserts")
        ins, outs = _texts(spec.get("inputs"), "inputs"), _texts(spec.get("outputs"), "outputs")
        if len(ins) != len(outs):
            raise ValueError(f"{len(ins)} inputs but {len(outs)} outputs")
        if not ins:
            raise ValueError("no stdin/stdout tests")
        return TestSpec("stdio", inputs=ins, outputs=outs, entry_point=entry, prompt=prompt)
    asserts = spec.get("asserts", spec.get("test_list"))
    if asserts is not None:
        tests = _texts(asserts, "asserts")
        if not tests:
            raise ValueError("no assert tests")
        setup = spec.get("setup", spec.get("test_setup_code")) or ""
        for i, t in enumerate(tests):
            _check_syntax(t, f"assert test {i}")
        return TestSpec("assert", tests=tests, setup=str(setup), entry_point=entry, prompt=prompt)
    if "test" in spec:
        if not entry:
            raise ValueError("a 'test' (check function) needs an 'entry_point'")
        if not str(entry).isidentifier():
            raise ValueError(f"entry_point {entry!r} is not an identifier")
        _check_syntax(str(spec["test"]), "test")
        return TestSpec("assert", tests=(f"check({entry})",), setup=str(spec["test"]), entry_point=entry, prompt=prompt)
    raise ValueError("a test spec needs 'test' + 'entry_point', 'asserts' (or 'test_list'), or 'inputs' + 'outputs'; "
                     f"got keys {sorted(spec)}")


def _check_syntax(src: str, what: str) -> None:
    try:
        ast.parse(src)
    except SyntaxError as e:
        raise ValueError(f"{what} is not valid Python: {e.msg} (line {e.lineno})") from None


# ------------------------------------------------------------------------------------- extraction
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*)?```", re.S)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n((?:(?!```).)*)\Z", re.S)  # a last block never closed


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _defines(src: str, name: str) -> bool:
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False


def extract_program(response: str, spec: TestSpec | None = None) -> str | None:
    """The program of a response: the last ```python (or py/python3/untagged) fenced block, else the
    whole response when it parses, else an unclosed last block when it parses; with a spec holding a ``prompt`` and an ``entry_point``, a program
    that does not define the entry point is tried as the continuation of the prompt. None: no code."""
    blocks = [m.group(2) for m in _FENCE.finditer(response) if m.group(1).lower() in ("", "python", "py", "python3")]
    prog: str | None = None
    if blocks:
        prog = blocks[-1]
    elif response.strip() and _parses(response):
        prog = response
    else:  # a response cut off inside its code block: the block, when it parses
        m = _OPEN_FENCE.search(response)
        if m and _parses(m.group(1)):
            prog = m.group(1)
    if spec is not None and spec.prompt and spec.entry_point and (prog is None or not _defines(prog, spec.entry_point)):
        for body in ([prog] if prog is not None else []) + [response]:
            cand = spec.prompt + body
            if _parses(cand) and _defines(cand, spec.entry_point):
                return cand
    if prog is None or not prog.strip():
        return None
    return prog


# ------------------------------------------------------------------------------------- isolation
_PROBES: dict[tuple, dict[str, Any]] = {}
# one batch at a time per process: concurrent runs of one process share its private uid range
_LOCK = threading.RLock()


def _others_can_reach(path: str) -> bool:
    """Whether a user without privileges can traverse every directory above ``path``'s real location."""
    d = os.path.dirname(os.path.realpath(path))
    while True:
        try:
            if not os.stat(d).st_mode & 0o001:
                return False
        except OSError:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def _python_candidates(cfg: SandboxConfig) -> list[str]:
    if cfg.python:
        return [cfg.python]
    out = []
    for p in (sys.executable, getattr(sys, "_base_executable", None), shutil.which("python3"), "/usr/bin/python3",
              "/usr/local/bin/python3"):
        if p and os.path.exists(p) and p not in out:
            if os.getuid() == 0 and not _others_can_reach(p):
                continue  # the runs' private uid could not start it (e.g. a venv under /root)
            out.append(p)
    return out


def _hide_default(python: str) -> list[str]:
    """Directories hidden from the programs: the grader's cwd, its home and /root, except one that
    holds the interpreter the runs use."""
    keep = [os.path.realpath(python)]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        keep += [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)]
    out: list[str] = []
    for d in (os.getcwd(), os.path.expanduser("~"), "/root"):
        d = os.path.realpath(d)
        if d in ("/", "/usr", "/tmp", "/bin", "/lib", "/etc") or d in out or not os.path.isdir(d):
            continue
        if any(k == d or k.startswith(d.rstrip("/") + "/") for k in keep):
            continue
        out.append(d)
    return out


def _child_config(cfg: SandboxConfig, iso: Mapping[str, Any], uid: int | None, workdir: str, payload_fd: int,
                  result_fd: int, nproc: int | None, probe: bool = False) -> dict[str, Any]:
    return {"net": iso["net"], "mnt": iso["mnt"], "userns": iso["userns"], "pidns": iso["pidns"], "uid": uid,
            "reap": uid is not None,
            "workdir": workdir, "hide": list(iso["hide"]), "tmpfs_kb": int(cfg.tmpfs_mb * 1024),
            "cpu_seconds": max(1, int(round(cfg.cpu_seconds))), "memory_bytes": int(cfg.memory_mb * 2**20),
            "file_bytes": int(cfg.file_size_mb * 2**20), "nproc": nproc, "payload_fd": payload_fd,
            "result_fd": result_fd, "probe": probe}


def _env(workdir: str) -> dict[str, str]:
    """The runs' whole environment: nothing inherited."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _try_probe(python: str, cfg: SandboxConfig, iso: dict[str, Any], uid: int | None) -> tuple[bool, str]:
    payload = tempfile.TemporaryFile()
    payload.write(marshal.dumps({"imports": ["typing", "fractions", "heapq", "statistics", "decimal", "string"]}))
    payload.flush()
    payload.seek(0)
    workdir = tempfile.mkdtemp(prefix="prl-probe-") if not iso["mnt"] else "/"
    try:
        if uid is not None and not iso["mnt"]:
            os.chown(workdir, uid, uid)
        ccfg = _child_config(cfg, iso, uid, workdir, payload.fileno(), -1, None, probe=True)
        try:
            r = subprocess.run([python, "-I", "-c", _CHILD_SRC, marshal.dumps(ccfg).hex()], stdin=subprocess.DEVNULL,
                               capture_output=True, pass_fds=(payload.fileno(),), env=_env(workdir), cwd="/",
                               start_new_session=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, str(e)
        if r.returncode != 0:
            return False, (r.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit {r.returncode}"])[-1]
        return True, ""
    finally:
        payload.close()
        if workdir != "/":
            shutil.rmtree(workdir, ignore_errors=True)


def isolation(cfg: SandboxConfig | None = None) -> dict[str, Any]:
    """What this machine gives the runs (probed once per interpreter and settings, then cached):
    ``python``, ``net`` (own network namespace), ``mnt`` (private mount namespace), ``userns``,
    ``uid`` (own unprivileged uid per run), ``hide``, ``notes``. Raises :class:`SandboxUnavailable`
    when no network namespace can be made and ``allow_network_access`` is off, or no interpreter runs."""
    cfg = cfg or SandboxConfig()
    with _LOCK:
        return _isolation(cfg)


def _isolation(cfg: SandboxConfig) -> dict[str, Any]:
    key = (cfg.python, cfg.allow_network_access, cfg.hide_paths, os.getuid())
    if key in _PROBES:
        return _PROBES[key]
    root = os.getuid() == 0
    notes: list[str] = []
    probe_uid = _UID_BASE + (os.getpid() % 4_194_304) * 256 + 255 if root else None
    chosen: dict[str, Any] | None = None
    errors = []
    for python in _python_candidates(cfg):
        hide = list(cfg.hide_paths) if cfg.hide_paths is not None else _hide_default(python)
        # most isolation first; drop what the machine refuses
        if root:
            attempts = [dict(net=True, mnt=True, pidns=True, userns=False, uid=True),
                        dict(net=True, mnt=False, pidns=False, userns=False, uid=True),
                        dict(net=False, mnt=False, pidns=False, userns=False, uid=True)]
        else:
            attempts = [dict(net=True, mnt=True, pidns=True, userns=True, uid=False),
                        dict(net=True, mnt=False, pidns=False, userns=True, uid=False),
                        dict(net=False, mnt=False, pidns=False, userns=False, uid=False)]
        for a in attempts:
            if not a["net"] and not cfg.allow_network_access:
                continue
            iso = {**a, "hide": hide if a["mnt"] else []}
            ok, err = _try_probe(python, cfg, iso, probe_uid if a["uid"] else None)
            if ok:
                chosen = {**iso, "python": python}
                break
            errors.append(f"{python} net={a['net']} mnt={a['mnt']}: {err}")
        if chosen:
            break
    if chosen is None:
        hint = ("" if cfg.allow_network_access else
                " If the programs may use the network, set allow_network_access (reward.code.allow_network_access=true).")
        if root:
            hint += (" As root the runs need an interpreter that an unprivileged user can read and run "
                     "(reward.code.python / SandboxConfig.python).")
        raise SandboxUnavailable("cannot start an isolated run on this machine: " + ("; ".join(errors[-3:]) or
                                 "no usable interpreter") + "." + hint)
    if not chosen["net"]:
        notes.append("no network namespace: runs can reach the network (allow_network_access=true)")
    if not chosen["mnt"]:
        notes.append("no mount namespace: runs share /tmp with the host and can read the grader's files")
    if not chosen["pidns"] and not chosen["uid"]:
        notes.append("no pid namespace and not root: runs share the grader's uid and see its processes "
                     "(they can signal it and read /proc/<pid>/environ)")
    elif not chosen["uid"]:
        notes.append("not root: runs share the grader's uid (a private pid namespace and /proc keep them from its processes)")
    chosen["notes"] = notes
    _PROBES[key] = chosen
    return chosen


def _user_tasks(uid: int) -> int:
    """Tasks (threads) the uid runs now: RLIMIT_NPROC counts them all."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                st = f.read()
        except OSError:
            continue
        m = re.search(r"^Uid:\s+(\d+)", st, re.M)
        t = re.search(r"^Threads:\s+(\d+)", st, re.M)
        if m and int(m.group(1)) == uid:
            n += int(t.group(1)) if t else 1
    return n


def _live_pids(uids: set[int]) -> list[int]:
    """Processes (not zombies) whose uid is one of ``uids``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid not in uids:
                continue
            with open(f"/proc/{d}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            out.append(int(d))
    return out


def _reap_uids(uids: Iterable[int]) -> None:
    """Kill every process still running under the runs' private uids (root only)."""
    uids = set(uids)
    for _ in range(50):
        pids = _live_pids(uids) if uids else []
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


# ------------------------------------------------------------------------------------- runs
@dataclass
class _Job:
    sample: int
    mode: str  # "assert" | "stdio"
    payload: dict
    stdin: bytes | None
    n_tests: int
    test_index: int = 0  # stdio: which pair
    expected: str | None = None


@dataclass
class _Run:
    job: _Job
    proc: subprocess.Popen
    slot: int
    uid: int | None
    workdir: str | None
    nonce: str
    deadline: float
    t0: float
    bufs: dict[str, bytearray] = field(default_factory=lambda: {"out": bytearray(), "err": bytearray(), "res": bytearray()})
    open_fds: set = field(default_factory=set)
    exited: bool = False
    killed: str | None = None  # "timeout" | "output" | "budget"
    pidfd: int | None = None
    t1: float = 0.0
    pidns: bool = False


def _outcomes(run: _Run, cfg: SandboxConfig) -> tuple[list[str], str]:
    """Per-test outcomes of a finished run and a one-line detail."""
    job, rc = run.job, run.proc.returncode
    err_tail = bytes(run.bufs["err"][-400:]).decode("utf-8", "replace").strip().splitlines()
    last_err = err_tail[-1] if err_tail else ""
    started = (run.nonce + " start").encode() in run.bufs["res"]
    if rc == 71 and not started and b"sandbox: " in run.bufs["err"]:  # the isolation failed (before the program)
        return ["sandbox_error"] * job.n_tests, last_err
    sig = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and run.pidns and rc > 128 else None)
    # the CPU limit: SIGXCPU at the soft limit, SIGKILL at the hard one (a program that catches SIGXCPU)
    cpu_out = run.killed is None and sig is not None and (
        sig == signal.SIGXCPU or (sig == signal.SIGKILL and run.t1 - run.t0 >= cfg.cpu_seconds))
    if job.mode == "stdio":
        if run.killed == "budget":
            return ["sandbox_error"], "batch budget exhausted"
        if run.killed == "timeout" or cpu_out:
            return ["timeout"], f"timeout ({'cpu' if cpu_out else 'wall'})"
        if run.killed == "output":
            return ["error"], f"output over {cfg.max_output_bytes} bytes"
        if rc != 0:
            return ["error"], last_err or f"exit {rc}"
        got = bytes(run.bufs["out"]).decode("utf-8", "replace")
        if _same_output(got, job.expected or ""):
            return ["pass"], ""
        return ["fail"], "wrong output"
    # assert mode: trust only lines carrying this run's nonce; every test and "done" must be there
    res: dict[int, str] = {}
    done, tampered, load = False, False, None
    for line in bytes(run.bufs["res"]).decode("utf-8", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) < 2 or parts[0] != run.nonce:
            tampered = True
            continue
        if parts[1] == "start":
            continue
        if parts[1] == "done":
            done = True
        elif parts[1] in ("load", "setup"):
            load = f"{parts[1]} {' '.join(parts[2:])}".strip()
        elif parts[1].isdigit() and len(parts) >= 3 and parts[2] in ("pass", "fail", "error"):
            res.setdefault(int(parts[1]), parts[2])
        else:
            tampered = True
    rest = "error"
    detail = ""
    if run.killed == "budget":
        rest, detail = "sandbox_error", "batch budget exhausted"
    elif run.killed == "timeout" or cpu_out:
        rest, detail = "timeout", f"timeout ({'cpu' if cpu_out else 'wall'})"
    elif run.killed == "output":
        detail = f"output over {cfg.max_output_bytes} bytes"
    elif load:
        detail = f"{load}: {last_err}" if last_err else load
    elif tampered:
        detail = "result channel written by the program"
    elif not (done and rc == 0):
        detail = f"exited ({rc}) before the tests finished" if not done else f"exit {rc} after the tests"
    out = [res.get(i, rest) for i in range(job.n_tests)]
    if tampered or (done and rc != 0 and run.killed is None):  # results not to be trusted: no pass counts
        out = ["error" if o == "pass" else o for o in out]
    if not detail and any(o == "fail" for o in out):
        detail = "assertion failed in test " + str(next(i for i, o in enumerate(out) if o == "fail"))
    elif not detail and any(o == "error" for o in out):
        detail = last_err or "error"
    return out, detail


def _same_output(got: str, want: str) -> bool:
    g = [ln.strip() for ln in got.strip().split("\n")]
    w = [ln.strip() for ln in want.strip().split("\n")]
    return g == w


def _kill_group(run: _Run) -> None:
    try:
        os.killpg(run.proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run_jobs(jobs: list[_Job], cfg: SandboxConfig, iso: Mapping[str, Any]) -> list[tuple[list[str], str, float]]:
    """Run jobs, ``workers`` at a time, in one thread (a selector over the pipes and pidfds)."""
    workers = cfg.workers or len(os.sched_getaffinity(0))
    t_batch = time.monotonic()
    batch_deadline = t_batch + cfg.batch_seconds if cfg.batch_seconds else float("inf")
    root_uid = iso["uid"]
    base_uid = _UID_BASE + (os.getpid() % 4_194_304) * 256 if root_uid else None
    nproc = cfg.max_processes if root_uid else _user_tasks(os.getuid()) + cfg.max_processes
    results: list[tuple[list[str], str, float] | None] = [None] * len(jobs)
    free_slots = list(range(min(workers, 255)))[::-1]
    used_uids: set[int] = set()
    sel = selectors.DefaultSelector()
    running: dict[int, _Run] = {}  # by pid
    pending = list(range(len(jobs)))[::-1]

    def start(ji: int) -> None:
        job = jobs[ji]
        slot = free_slots.pop()
        uid = base_uid + slot if base_uid is not None else None
        nonce = secrets.token_hex(16)
        payload = tempfile.TemporaryFile()
        payload.write(marshal.dumps({**job.payload, "nonce": nonce}))
        payload.flush()
        payload.seek(0)
        stdin: Any = subprocess.DEVNULL
        if job.stdin is not None:
            stdin = tempfile.TemporaryFile()
            stdin.write(job.stdin)
            stdin.flush()
            stdin.seek(0)
        workdir = None
        if not iso["mnt"]:
            workdir = tempfile.mkdtemp(prefix="prl-run-")
            if uid is not None:
                os.chown(workdir, uid, uid)
        res_r, res_w = os.pipe()
        ccfg = _child_config(cfg, iso, uid, workdir or "/tmp/sandbox", payload.fileno(), res_w, nproc)
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen([iso["python"], "-I", "-c", _CHILD_SRC, marshal.dumps(ccfg).hex()], stdin=stdin,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(payload.fileno(), res_w),
                                    env=_env(workdir or "/tmp/sandbox"), cwd=workdir or "/", start_new_session=True)
        except OSError as e:
            os.close(res_r)
            results[ji] = (["sandbox_error"] * job.n_tests, f"cannot start: {e}", 0.0)
            free_slots.append(slot)
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            return
        finally:
            os.close(res_w)
            payload.close()
            if job.stdin is not None:
                stdin.close()
        if uid is not None:
            used_uids.add(uid)
        run = _Run(job, proc, slot, uid, workdir, nonce, min(t0 + cfg.wall_seconds, batch_deadline), t0,
                   pidns=bool(iso["pidns"]))
        run.job_index = ji  # type: ignore[attr-defined]
        for name, fobj in (("out", proc.stdout), ("err", proc.stderr)):
            fd = fobj.fileno()
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, (run, name))
            run.open_fds.add(fd)
        os.set_blocking(res_r, False)
        sel.register(res_r, selectors.EVENT_READ, (run, "res"))
        run.open_fds.add(res_r)
        run.res_r = res_r  # type: ignore[attr-defined]
        try:
            run.pidfd = os.pidfd_open(proc.pid)
            sel.register(run.pidfd, selectors.EVENT_READ, (run, "exit"))
        except (AttributeError, OSError):
            run.pidfd = None
        running[proc.pid] = run

    def drain(run: _Run, fd: int, name: str) -> None:
        cap = cfg.max_output_bytes
        while True:
            try:
                b = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                b = b""
            if not b:
                sel.unregister(fd)
                run.open_fds.discard(fd)
                if name == "res":
                    os.close(fd)
                return
            buf = run.bufs[name]
            if len(buf) + len(b) > cap:
                buf += b[: max(0, cap - len(buf))]
                if run.killed is None:
                    run.killed = "output"
                    _kill_group(run)
                return
            buf += b

    def finish(run: _Run) -> None:
        _kill_group(run)  # whatever the program left in its process group
        try:
            run.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        run.t1 = time.monotonic()
        for fd in list(run.open_fds):
            name = "res" if fd == run.res_r else ("out" if fd == run.proc.stdout.fileno() else "err")  # type: ignore[attr-defined]
            if run.killed != "output":
                drain(run, fd, name)
            if fd in run.open_fds:
                sel.unregister(fd)
                run.open_fds.discard(fd)
                if name == "res":
                    os.close(fd)
        run.proc.stdout.close()
        run.proc.stderr.close()
        if run.pidfd is not None:
            sel.unregister(run.pidfd)
            os.close(run.pidfd)
        del running[run.proc.pid]
        free_slots.append(run.slot)
        if run.workdir:
            shutil.rmtree(run.workdir, ignore_errors=True)
        outs, detail = _outcomes(run, cfg)
        results[run.job_index] = (outs, detail, time.monotonic() - run.t0)  # type: ignore[attr-defined]

    try:
        while pending or running:
            now = time.monotonic()
            while pending and free_slots and now < batch_deadline:
                start(pending.pop())
            if not running:
                if pending and now >= batch_deadline:
                    for ji in pending:
                        results[ji] = (["sandbox_error"] * jobs[ji].n_tests, "batch budget exhausted", 0.0)
                    pending.clear()
                continue
            next_deadline = min(r.deadline for r in running.values())
            timeout = max(0.0, next_deadline - now)
            if any(r.pidfd is None for r in running.values()):
                timeout = min(timeout, 0.02)
            for key, _ in sel.select(timeout):
                run, name = key.data
                if run.proc.pid not in running:
                    continue
                if name == "exit":
                    run.exited = True
                else:
                    drain(run, key.fd, name)
            now = time.monotonic()
            for run in list(running.values()):
                if run.pidfd is None and run.proc.poll() is not None:
                    run.exited = True
                if run.exited or run.killed == "output":
                    finish(run)
                elif now >= run.deadline:
                    run.killed = "budget" if run.t0 + cfg.wall_seconds > batch_deadline else "timeout"
                    _kill_group(run)
                    finish(run)
    finally:
        for run in list(running.values()):
            run.killed = run.killed or "budget"
            _kill_group(run)
            try:
                finish(run)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        sel.close()
        if used_uids:
            _reap_uids(used_uids)
    return [r if r is not None else (["sandbox_error"] * j.n_tests, "not run", 0.0) for r, j in zip(results, jobs)]


def _status(outcomes: Sequence[str]) -> str:
    return _OUTCOME_STATUS[max(outcomes, key=lambda o: _RANK[o])] if outcomes else "sandbox_error"


def grade_code(responses: Sequence[str], tests: Sequence[Any], *, config: Any = None, **overrides: Any) -> list[CodeVerdict]:
    """Grade each response's program against its tests (same length). ``config``: a
    :class:`SandboxConfig`, a mapping or an object with its field names; keyword overrides win.
    A malformed test spec raises ValueError naming the row."""
    if len(responses) != len(tests):
        raise ValueError(f"grade_code: {len(responses)} responses but {len(tests)} test specs")
    cfg = SandboxConfig.from_any(config, **overrides)
    specs: list[TestSpec] = []
    for i, t in enumerate(tests):
        try:
            specs.append(parse_tests(t))
        except ValueError as e:
            raise ValueError(f"row {i}: bad test spec: {e}") from None
    programs = [extract_program(r if isinstance(r, str) else "", s) for r, s in zip(responses, specs)]
    jobs: list[_Job] = []
    for i, (prog, spec) in enumerate(zip(programs, specs)):
        if prog is None:
            continue
        if spec.kind == "assert":
            payload = {"mode": "assert", "program": prog, "setup": spec.setup, "tests": list(spec.tests),
                       "entry_point": spec.entry_point}
            jobs.append(_Job(i, "assert", payload, None, len(spec.tests)))
        else:
            payload = {"mode": "stdio", "program": prog}
            for k, (inp, out) in enumerate(zip(spec.inputs, spec.outputs)):
                jobs.append(_Job(i, "stdio", payload, inp.encode("utf-8"), 1, test_index=k, expected=out))
    with _LOCK:
        iso = isolation(cfg)
        if iso["notes"] and not iso.get("warned"):
            import warnings

            warnings.warn("prl_verifier.code sandbox: " + "; ".join(iso["notes"]), RuntimeWarning, stacklevel=2)
            iso["warned"] = True
        ran = _run_jobs(jobs, cfg, iso) if jobs else []
    per: dict[int, list[str]] = {}
    details: dict[int, str] = {}
    secs: dict[int, float] = {}
    for job, (outs, detail, s) in zip(jobs, ran):
        if job.mode == "stdio":
            per.setdefault(job.sample, ["sandbox_error"] * specs[job.sample].total)[job.test_index] = outs[0]
            if detail and outs[0] != "pass" and job.sample not in details:
                details[job.sample] = f"test {job.test_index}: {detail}"
        else:
            per[job.sample] = outs
            details[job.sample] = detail
        secs[job.sample] = secs.get(job.sample, 0.0) + s
    verdicts = []
    for i, (prog, spec) in enumerate(zip(programs, specs)):
        if prog is None:
            verdicts.append(CodeVerdict(False, "no_code", 0, spec.total, None, "no program in the response"))
            continue
        outs = per[i]
        st = _status(outs)
        npass = sum(o == "pass" for o in outs)
        verdicts.append(CodeVerdict(st == "passed", st, npass, len(outs), prog, details.get(i, ""), secs.get(i, 0.0),
                                    outcomes=tuple(outs)))
    return verdicts
