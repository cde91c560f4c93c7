# The code that runs inside every sandboxed process (prl_verifier.code passes this file's text with
# `python -I -c`; the file itself is never imported).  It is trusted code: it isolates the fresh
# process (network and mount namespaces, rlimits, an unprivileged uid) and then runs the untrusted
# program.  Nothing here may depend on the parent's memory: the process is fresh, single-threaded,
# and reads its settings from argv[1] (JSON, no secrets) and the program, tests and the run's nonce
# from an unnamed temporary file open on fd `payload_fd` (closed before the program runs).
#
# Exit codes: 0 normal end; 1 the program raised or exited non-zero; 71 the isolation failed
# (reported by the parent as sandbox_error); with a pid namespace a program killed by signal S
# ends the run with 128 + S.  Assert mode writes one line per test to fd
# `result_fd`: "NONCE i pass|fail|error NAME", then "NONCE done"; the parent accepts only lines
# that carry the nonce and requires a result for every test, the "done" line and exit code 0.


def _main():
    import marshal  # (not json, signal, traceback: their imports cost more than the rest of a run's start)
    import os
    import resource
    import sys

    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    write, exit_ = os.write, os._exit  # captured before the program runs (it may patch os)

    def fatal(msg):
        write(2, ("sandbox: " + msg + "\n").encode())
        exit_(71)

    # ---- namespaces (as root: CAP_SYS_ADMIN; without root: an unprivileged user namespace)
    flags = 0
    if cfg["net"]:
        flags |= 0x40000000  # CLONE_NEWNET: no interface but a downed loopback
    if cfg["mnt"]:
        flags |= 0x00020000  # CLONE_NEWNS: private tmpfs for /tmp, /var/tmp, /dev/shm; hidden dirs; own /proc
    if cfg["pidns"]:
        flags |= 0x20000000  # CLONE_NEWPID: the program sees and signals only its own processes
        flags |= 0x08000000  # CLONE_NEWIPC: its own SysV IPC and POSIX message queues
    if cfg["userns"]:
        flags |= 0x10000000  # CLONE_NEWUSER
    libc = None
    if flags:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        uid0, gid0 = os.getuid(), os.getgid()
        if libc.unshare(flags) != 0:
            fatal("unshare(%#x): %s" % (flags, os.strerror(ctypes.get_errno())))
        if cfg["userns"]:  # identity map of our own ids, so files we create have an owner
            try:
                for f, line in (("uid_map", "%d %d 1" % (uid0, uid0)), ("setgroups", "deny"),
                                ("gid_map", "%d %d 1" % (gid0, gid0))):
                    with open("/proc/self/" + f, "w") as fh:
                        fh.write(line)
            except OSError as e:
                fatal("user namespace map: %s" % e)

    MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE, MS_RDONLY = 2, 4, 8, 16384, 1 << 18, 1

    def mount(src, target, fstype, fl, data, required=True):
        if libc.mount(src, target.encode(), fstype, fl, data) != 0:
            if required:
                fatal("mount %s: %s" % (target, os.strerror(ctypes.get_errno())))
            return False
        return True

    uid = cfg["uid"]
    work = cfg["workdir"]
    if cfg["mnt"]:
        mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing propagates back to the host
        size = ("size=%dk,mode=1777" % (cfg["tmpfs_kb"],)).encode()
        for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue"):  # the world-writable ones
            if os.path.isdir(d) and not os.path.islink(d):
                mount(b"tmpfs", d, b"tmpfs", MS_NOSUID | MS_NODEV, size)
        for d in cfg["hide"]:
            if os.path.isdir(d):
                mount(b"tmpfs", d, b"tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, b"size=4k,mode=555")
        work = "/tmp/sandbox"
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)

    def relay(pid, init):
        """Wait for ``pid`` (as an init also reap orphans), then exit with its status: code, or 128 + signal."""
        while True:
            try:
                got, st = os.waitpid(-1 if init else pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                exit_(70)
            if got == pid:
                break
        exit_(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))

    if cfg["pidns"]:
        # launcher -> init (pid 1 of the new namespace, trusted, waits) -> the program (pid 2). Killing the
        # launcher's process group kills the init, and the kernel then kills everything in the namespace,
        # including processes that left the group with setsid().
        child = os.fork()
        if child:
            relay(child, False)
        if cfg["mnt"] and not mount(b"proc", "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, required=False):
            if cfg["uid"] is None:
                fatal("cannot mount /proc in the pid namespace")
        child = os.fork()
        if child:
            relay(child, True)
    try:
        os.chdir(work)
    except OSError as e:
        fatal("chdir %s: %s" % (work, e))

    # ---- limits (set while privileged; the hard limits cannot be raised by the program)
    def lim(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as e:
            fatal("setrlimit %s: %s" % (which, e))

    cpu = int(cfg["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL a second later
    except (ValueError, OSError) as e:
        fatal("setrlimit CPU: %s" % e)
    lim(resource.RLIMIT_AS, cfg["memory_bytes"])
    lim(resource.RLIMIT_FSIZE, cfg["file_bytes"])
    lim(resource.RLIMIT_CORE, 0)
    lim(resource.RLIMIT_NOFILE, 256)
    if cfg["nproc"] is not None:
        lim(resource.RLIMIT_NPROC, cfg["nproc"])

    # ---- drop to the run's own unprivileged uid (root only), then kill whatever an earlier program
    # left running under that uid (kill(-1) as an unprivileged uid reaches only that uid's processes)
    if uid is not None:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        except OSError as e:
            fatal("setuid %d: %s" % (uid, e))
        if os.getuid() == 0 or os.geteuid() == 0:
            fatal("still root after setuid")
        if cfg["reap"] and not cfg["pidns"]:
            try:
                os.kill(-1, 9)  # SIGKILL
            except OSError:
                pass

    # ---- the payload: program, setup, tests, nonce (read, then the fd is closed)
    fd = cfg["payload_fd"]
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    p = marshal.loads(b"".join(chunks))
    del chunks
    if cfg.get("probe"):
        for m in p.get("imports", ()):
            __import__(m)  # the interpreter's standard library is readable by the sandbox uid
        write(1, ("uid=%d cwd=%s" % (os.getuid(), os.getcwd())).encode())
        exit_(0)

    rfd = cfg["result_fd"]
    nonce = p.pop("nonce")
    _exec, _compile, _isinstance, _type = exec, compile, isinstance, type
    _AssertionError, _BaseException, _SystemExit = AssertionError, BaseException, SystemExit
    flush_out, flush_err = sys.stdout.flush, sys.stderr.flush

    def print_exc():  # diagnostics only (stderr); imported when needed
        try:
            import traceback

            traceback.print_exc()
        except _BaseException:
            pass

    def report(line):
        try:
            write(rfd, (nonce + " " + line + "\n").encode())
        except OSError:
            exit_(1)

    def finish(code):
        try:
            flush_out()
            flush_err()
        except _BaseException:
            pass
        exit_(code)

    report("start")  # the isolation is in place: from here on, exit 71 is the program's own
    if p["mode"] == "stdio":
        g = {"__name__": "__main__", "__builtins__": __builtins__}
        try:
            _exec(_compile(p["program"], "<solution>", "exec"), g)
        except _SystemExit as e:
            finish(0 if e.code in (None, 0) else 1)
        except _BaseException:
            print_exc()
            finish(1)
        finish(0)

    # assert mode: the program, then the setup (e.g. HumanEval's check), then each test statement.
    # Everything the tests rely on is made before the program runs (it may patch modules and builtins):
    # their code objects, a snapshot of the builtins (the tests' own __builtins__), and a guard on the
    # program's functions that fails a test when one returns a value whose class overrides comparison
    # or arithmetic (an "always equal" object that would pass any `assert f(x) == y`).
    import builtins
    import types

    p_program, p_setup, p_tests, entry = p["program"], p.get("setup") or "", p["tests"], p.get("entry_point")
    del p
    try:
        c_setup = _compile(p_setup, "<test setup>", "exec") if p_setup else None
        c_tests = [_compile(t, "<test %d>" % k, "exec") for k, t in enumerate(p_tests)]
    except _BaseException as e:  # the parent checks the syntax first; this is a bad spec
        report("setup " + _type(e).__name__)
        print_exc()
        finish(1)
    snapshot = dict(vars(builtins))
    _FunctionType, _list, _tuple, _set, _frozenset, _dict = types.FunctionType, list, tuple, set, frozenset, dict
    _all, _len, _setattr, _getattr = all, len, setattr, getattr
    plain = {int, float, complex, str, bytes, bool, _type(None), range, _type(Ellipsis)}
    dunders = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__abs__", "__sub__",
               "__rsub__", "__round__", "__float__", "__int__", "__index__", "__contains__", "__len__")
    HEAPTYPE = 1 << 9

    def honest(x, depth=0):
        t = _type(x)
        if t in plain:
            return True
        for c in t.__mro__:
            if c.__flags__ & HEAPTYPE:
                d = c.__dict__
                for name in dunders:
                    if name in d:
                        return False
        if depth > 50:
            return True
        if t is _list or t is _tuple or t is _set or t is _frozenset:
            return _all(honest(y, depth + 1) for y in x)
        if t is _dict:
            return _all(honest(k, depth + 1) and honest(v, depth + 1) for k, v in x.items())
        return True

    def guard(fn):
        def guarded(*args, **kwargs):
            out = fn(*args, **kwargs)
            if not honest(out):
                raise _AssertionError("%s returned a %s, whose class overrides comparison" % (
                    _getattr(fn, "__name__", "?"), _type(out).__name__))
            return out
        for a in ("__name__", "__qualname__", "__doc__", "__module__"):
            try:
                _setattr(guarded, a, _getattr(fn, a))
            except _BaseException:
                pass
        guarded.__wrapped__ = fn
        return guarded

    g = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        _exec(_compile(p_program, "<solution>", "exec"), g)
    except _BaseException as e:
        report("load " + _type(e).__name__)
        print_exc()
        finish(1)
    # the tests' namespace: the program's names (not those that shadow a builtin, unless it is the entry
    # point), its functions guarded, and the builtins as they were before the program ran
    gt = {}
    for k, v in _list(g.items()):
        if k == "__builtins__" or (k in snapshot and k != entry and not k.startswith("__")):
            continue
        gt[k] = guard(v) if _type(v) is _FunctionType else v
    gt["__builtins__"] = _dict(snapshot)
    if c_setup is not None:
        try:
            _exec(c_setup, gt)
        except _BaseException as e:
            report("setup " + _type(e).__name__)
            print_exc()
            finish(1)
    i = 0
    for t in c_tests:
        try:
            _exec(t, gt)
            report("%d pass" % i)
        except _AssertionError:
            report("%d fail" % i)
        except _BaseException as e:
            report("%d error %s" % (i, _type(e).__name__))
        i += 1
    report("done")
    finish(0)

_main()
