"""Hostile and broken programs in the code sandbox (prl_verifier.code): each is contained, gets a
status, and the batch goes on (a correct program graded in the same batch still passes)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest

from prl_verifier import code as C

# short limits keep the folder fast; every test's wall time is bounded by them
FAST = dict(cpu_seconds=1, wall_seconds=3, memory_mb=512, workers=2)
GOOD = "```python\ndef f(x):\n    return x + 1\n```"
GOOD_TESTS = {"asserts": ["assert f(1) == 2", "assert f(2) == 3"]}


def grade_with_good(program: str, tests=None, **kw):
    """Grade a hostile program together with a good one; return the hostile one's verdict."""
    v = C.grade_code([program, GOOD], [tests or {"asserts": ["assert True"]}, GOOD_TESTS], **{**FAST, **kw})
    assert v[1].status == "passed", v[1]  # the run goes on
    return v[0]


def private_uid_procs() -> list[int]:
    """Live (non-zombie) processes under any of the sandbox's private uids."""
    uids = {int(st.st_uid) for d in os.listdir("/proc") if d.isdigit()
            for st in [_stat(f"/proc/{d}")] if st is not None and st.st_uid >= C._UID_BASE}
    return C._live_pids(uids)


def _stat(p):
    try:
        return os.stat(p)
    except OSError:
        return None


def test_isolation_on_this_machine():
    iso = C.isolation(C.SandboxConfig())
    assert iso["net"], iso  # the project's machines allow a network namespace
    if os.getuid() == 0:
        assert iso["uid"] and iso["mnt"], iso


def test_infinite_loop_is_a_timeout():
    t = time.monotonic()
    v = grade_with_good("while True:\n    pass\n")
    assert v.status == "timeout" and v.passed == 0
    assert time.monotonic() - t < 10  # wall limit 3 s, plus start-up on a busy machine


def test_sleeping_program_is_killed_at_the_wall_clock_limit():
    t = time.monotonic()
    v = grade_with_good("import time\ntime.sleep(60)\n")
    assert v.status == "timeout" and "wall" in v.detail
    assert time.monotonic() - t < 10


def test_fork_bomb_is_contained_and_reaped():
    bomb = ("import os\n"
            "while True:\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            os.setsid()\n"  # children leave the process group: only the uid reaping gets them
            "    except OSError:\n"
            "        pass\n")
    t = time.monotonic()
    v = grade_with_good(bomb)
    assert v.status in ("timeout", "error"), v
    assert time.monotonic() - t < 12
    if os.getuid() == 0:
        assert private_uid_procs() == []


def test_memory_bomb_is_an_error():
    v = grade_with_good("x = bytearray(8 * 2**30)\n")
    assert v.status == "error" and "MemoryError" in v.detail, v
    v = grade_with_good("a = []\nwhile True:\n    a.append(bytearray(10**7))\n")
    assert v.status in ("error", "timeout"), v


def test_a_gigabyte_of_output_is_cut_off():
    prog = "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    t = time.monotonic()
    v = grade_with_good(prog, {"inputs": [""], "outputs": ["x"]})
    assert v.status == "error" and "output over" in v.detail, v
    assert time.monotonic() - t < 10
    # stderr too, and in assert mode
    v = grade_with_good(prog.replace("stdout", "stderr"))
    assert v.status == "error", v


def test_writes_outside_its_directory_do_not_reach_the_host(tmp_path):
    targets = [str(tmp_path / "escaped.txt"), "/etc/prl_escaped", "/usr/prl_escaped", "/root/prl_escaped",
               os.path.join(os.getcwd(), "prl_escaped"), "../prl_escaped", "/tmp/prl_escaped_sandbox",
               "/dev/shm/prl_escaped", "/var/tmp/prl_escaped", "/run/lock/prl_escaped"]
    prog = ("import os\n"
            f"for t in {targets!r}:\n"
            "    try:\n"
            "        with open(t, 'w') as f:\n"
            "            f.write('x')\n"
            "    except OSError:\n"
            "        pass\n"
            "open('inside.txt', 'w').write('ok')\n"  # its own directory is writable
            "def f():\n    return open('inside.txt').read()\n")
    v = grade_with_good(prog, {"asserts": ["assert f() == 'ok'"]})
    assert v.status == "passed", v
    for t in targets:
        assert not os.path.exists(t if os.path.isabs(t) else os.path.join("/tmp", t)), t
    assert not os.path.exists("/tmp/prl_escaped_sandbox")


def test_big_files_are_capped():
    prog = ("def f():\n"
            "    try:\n"
            "        with open('big', 'wb') as fh:\n"
            "            fh.write(b'x' * (64 * 2**20))\n"
            "    except OSError as e:\n"
            "        return 'capped'\n"
            "    return 'wrote'\n")
    v = grade_with_good(prog, {"asserts": ["assert f() == 'capped'"]}, file_size_mb=1)
    assert v.status == "passed", v


def test_the_parents_environment_is_out_of_reach(monkeypatch):
    secret = "prl-test-secret-" + os.urandom(8).hex()
    monkeypatch.setenv("PRL_TEST_SECRET", secret)
    leak = ("import os\n"
            "def leaked():\n"
            "    found = [repr(dict(os.environ))]\n"
            "    for pid in [str(os.getppid()), '1', 'self'] + os.listdir('/proc'):\n"
            "        try:\n"
            "            found.append(open('/proc/%s/environ' % pid, 'rb').read().decode('latin-1'))\n"
            "        except OSError:\n"
            "            pass\n"
            "    return '\\n'.join(found)\n")
    ns: dict = {}
    exec(leak, ns)
    assert secret in ns["leaked"]()  # the same code, unsandboxed, finds it
    v = grade_with_good(leak, {"asserts": [f"assert {secret!r} not in leaked()", "assert 'PRL_TEST_SECRET' not in leaked()"]})
    assert v.status == "passed", v


def test_no_network_not_even_loopback():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(conn)
            conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        # the server works from here
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        for _ in range(50):
            if accepted:
                break
            time.sleep(0.02)
        assert len(accepted) == 1
        prog = ("import socket\n"
                f"s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                "s.sendall(b'hello')\n")
        v = grade_with_good(prog)
        assert v.status == "error" and ("Network is unreachable" in v.detail or "OSError" in v.detail), v
        time.sleep(0.3)
        assert len(accepted) == 1  # nothing reached the server
    finally:
        stop.set()
        th.join(2)
        srv.close()


def test_killing_its_parent_fails():
    me = os.getpid()
    prog = ("import os, signal\n"
            "for pid in (os.getppid(), %d):\n"
            "    for sig in (signal.SIGKILL, signal.SIGTERM):\n"
            "        try:\n"
            "            os.kill(pid, sig)\n"
            "        except OSError:\n"
            "            pass\n"
            "try:\n"
            "    os.killpg(os.getpgid(%d), signal.SIGKILL)\n"
            "except OSError:\n"
            "    pass\n"
            "os.kill(%d, signal.SIGKILL)\n") % (me, me, me)
    v = grade_with_good(prog)
    # the grader's pid is not in the run's pid namespace (ProcessLookupError), or not its uid (PermissionError)
    assert v.status == "error" and ("ProcessLookupError" in v.detail or "PermissionError" in v.detail), v
    assert os.getpid() == me  # still here


@pytest.mark.parametrize("prog", [
    "import os\nprint('all tests passed')\nos._exit(0)\n",  # before the tests run
    "import sys\nprint('all tests passed')\nsys.exit(0)\n",
    "import os\ndef f(x):\n    os._exit(0)\n",  # inside the first test
    # posing as a failure of the sandbox itself (which would leave the sample unjudged)
    "import os, sys\nsys.stderr.write('sandbox: unshare failed\\n')\nsys.stderr.flush()\nos._exit(71)\n",
    # forged result lines on every fd the harness might use, then an early exit
    "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'0 pass\\n1 pass\\ndone\\n')\n    except OSError:\n"
    "        pass\nos._exit(0)\n",
    # patching os.write / os._exit / exec does not change what the harness reports
    "import os, builtins\n_w = os.write\nos.write = lambda fd, b: _w(fd, b.replace(b'fail', b'pass'))\n"
    "builtins.exec = lambda *a, **k: None\nos._exit = lambda c: None\ndef f(x):\n    return x\n",
])
def test_fake_success_is_not_a_pass(prog):
    v = grade_with_good(prog, GOOD_TESTS)
    assert v.status in ("error", "failed") and v.passed == 0, v
    assert v.reward("fraction") == 0.0 and v.reward("all") == 0.0


HACK_TESTS = {"asserts": ["assert f(1) == 2", "assert abs(f(1) - 2) < 1e-6", "assert f(1) in [2]", "assert not f(1) != 2"]}


@pytest.mark.parametrize("prog", [
    # an "always equal" object, also as an int subclass, inside a list, or through arithmetic
    "class A:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n        return False\n"
    "def f(x):\n    return A()\n",
    "class I(int):\n    def __eq__(self, o):\n        return True\n    __ne__ = lambda s, o: False\ndef f(x):\n    return I(0)\n",
    "class A:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return [A()]\n",
    "class Z:\n    def __sub__(self, o):\n        return 0\n    def __eq__(self, o):\n        return True\n"
    "    def __contains__(self, o):\n        return True\ndef f(x):\n    return Z()\n",
    # shadowing or patching the builtins the tests use (abs), at load time or during the call
    "def abs(x):\n    return 0\ndef f(x):\n    return 100\n",
    "import builtins\nbuiltins.abs = lambda x: 0\ndef f(x):\n    return 100\n",
    "import builtins\ndef f(x):\n    builtins.abs = lambda x: 0\n    return 100\n",
])
def test_objects_and_builtins_that_lie_do_not_pass(prog):
    v = grade_with_good(prog, HACK_TESTS)
    assert v.passed <= 1 and v.status in ("failed", "error"), v  # at most the honest `not f(1) != 2`... never all
    assert v.outcomes[0] == "fail" and v.outcomes[1] == "fail"


def test_honest_values_still_compare():
    prog = ("from collections import namedtuple\nfrom decimal import Decimal\nP = namedtuple('P', 'a b')\n"
            "def f(x):\n    return P(x, [x, {'k': (x,)}])\ndef g(x):\n    return Decimal(x) / 2\n"
            "def sum(xs):\n    return 0\n")
    tests = {"asserts": ["assert f(1) == (1, [1, {'k': (1,)}])", "assert g(1) == 0.5", "assert sum([1, 2]) == 3"]}
    v = grade_with_good(prog, tests)
    assert v.status == "passed", v  # the tests' `sum` is the builtin, not the program's


def test_batch_budget_leaves_later_runs_unjudged():
    progs = ["import time\ntime.sleep(60)\n"] * 4
    t = time.monotonic()
    v = C.grade_code(progs, [{"asserts": ["assert True"]}] * 4, cpu_seconds=1, wall_seconds=30, workers=2,
                     batch_seconds=1.0)
    assert time.monotonic() - t < 8  # budget 1 s
    assert [x.status for x in v] == ["sandbox_error"] * 4
    assert all(x.reward() is None for x in v)


def test_refuses_without_a_network_namespace(monkeypatch):
    def no_netns(python, cfg, iso, uid):
        return (False, "unshare: Operation not permitted") if iso["net"] else (True, "")

    monkeypatch.setattr(C, "_PROBES", {})
    monkeypatch.setattr(C, "_try_probe", no_netns)
    with pytest.raises(C.SandboxUnavailable, match="allow_network_access"):
        C.isolation(C.SandboxConfig())
    iso = C.isolation(C.SandboxConfig(allow_network_access=True))
    assert not iso["net"] and iso["notes"]


def test_sees_only_its_own_processes():
    prog = "import os\ndef pids():\n    return sorted(int(d) for d in os.listdir('/proc') if d.isdigit())\n"
    iso = C.isolation(C.SandboxConfig())
    if not iso["pidns"]:
        pytest.skip("no pid namespace on this machine")
    v = grade_with_good(prog, {"asserts": [f"assert {os.getpid()} not in pids() and len(pids()) <= 3, pids()"]})
    assert v.status == "passed", v


def test_minimal_environment():
    prog = "import os\ndef env():\n    return sorted(os.environ)\n"
    v = grade_with_good(prog, {"asserts": ["assert set(env()) <= {'PATH', 'HOME', 'LANG', 'LC_ALL', 'OMP_NUM_THREADS', "
                                           "'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'}, env()"]})
    assert v.status == "passed", v


NONROOT_SCRIPT = r'''
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("sbx", sys.argv[1])
C = importlib.util.module_from_spec(spec)
sys.modules["sbx"] = C
spec.loader.exec_module(C)
iso = C.isolation(C.SandboxConfig())
progs = [
    "def f(x):\n    return x + 1\n",
    "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(" + str(os.getpid()) + ", signal.SIGKILL)\n",
    "def leaked():\n    out = ''\n    for p in os.listdir('/proc'):\n        try:\n"
    "            out += open('/proc/' + p + '/environ').read()\n        except OSError:\n            pass\n    return out\nimport os\n",
    "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n",
    "import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n    except OSError:\n        pass\n",
    "open('/tmp/prl_nonroot_escape', 'w').write('x')\n",
]
tests = [{"asserts": ["assert f(1) == 2"]}, {"asserts": ["assert True"]},
         {"asserts": ["assert 'PRL_NONROOT_SECRET' not in leaked()"]}, {"asserts": ["assert True"]},
         {"asserts": ["assert True"]}, {"asserts": ["assert True"]}]
v = C.grade_code(progs, tests, cpu_seconds=1, wall_seconds=3, workers=2)
print(json.dumps({"iso": {k: iso[k] for k in ("net", "mnt", "pidns", "uid")}, "status": [x.status for x in v],
                  "detail": [x.detail for x in v]}))
'''


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root (to become an unprivileged user) and setpriv")
def test_without_root(tmp_path):
    """The grader itself run as an unprivileged user (uid 65534): a user namespace gives the runs their
    own network, mount and pid namespaces; the grader survives its hostile programs."""
    import subprocess
    import tempfile

    from prl_verifier import code as mod

    d = tempfile.mkdtemp(prefix="prl-nonroot-")
    try:
        for f in ("code.py", "_sandbox_child.py"):
            shutil.copy(os.path.join(os.path.dirname(mod.__file__), f), d)
        script = os.path.join(d, "run.py")
        with open(script, "w") as fh:
            fh.write(NONROOT_SCRIPT)
        os.chmod(d, 0o755)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", script,
                            os.path.join(d, "code.py")], capture_output=True, text=True, timeout=60, cwd=d,
                           env={"PATH": "/usr/bin:/bin", "PRL_NONROOT_SECRET": "1"})
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]  # alive: not killed by its program
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["iso"]["pidns"]:
        pytest.skip(f"no unprivileged user namespaces here: {out['iso']}")
    assert out["iso"]["net"] and out["iso"]["mnt"] and not out["iso"]["uid"]
    assert out["status"][0] == "passed"
    assert out["status"][1] == "error"  # its kills found no such process
    assert out["status"][2] == "passed", out  # no environment of another process readable
    assert out["status"][3] == "error" and "unreachable" in out["detail"][3]
    assert out["status"][4] in ("timeout", "error")
    assert not os.path.exists("/tmp/prl_nonroot_escape")
