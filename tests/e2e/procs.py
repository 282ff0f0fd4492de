"""procs: starting and stopping the processes of a Python end-to-end test
(backends, routers) and reading their ready lines."""
import os
import shutil
import re
import select
import socket
import subprocess
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_lines(p, what, patterns, timeout=30):
    """Reads p's stdout until every pattern ({key: regex}) matched a line;
    returns {key: match}. RuntimeError when p exits or the time is up."""
    deadline = time.monotonic() + timeout
    buf = b""
    found = {}
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                for key, pat in patterns.items():
                    m = re.match(pat, line)
                    if m:
                        found[key] = m
            if len(found) == len(patterns):
                return found
        elif p.poll() is not None:
            break
    raise RuntimeError("%s gave no ready line (exit %s, stdout %r)" % (what, p.poll(), buf[-300:]))


def start(args, tmp, name, procs):
    """Starts args with stderr in tmp/NAME.err; appends it to procs."""
    with open(os.path.join(tmp, name + ".err"), "wb") as err:
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def stop(p, grace=5):
    """SIGTERM, then SIGKILL after grace seconds; returns the exit status."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


class Tally:
    """`ok - NAME` / `not ok - NAME: why` lines and their count."""

    def __init__(self):
        self.passed = self.failed = 0

    def ok(self, name):
        self.passed += 1
        print("ok - %s" % name, flush=True)

    def not_ok(self, name, why):
        self.failed += 1
        print("not ok - %s: %s" % (name, why), flush=True)

    def check(self, name, fn):
        """ok when fn() returns; not ok with the reason when it raises."""
        try:
            fn()
            self.ok(name)
        except AssertionError as e:
            self.not_ok(name, e)
        except Exception as e:  # a failed call is a failed check, with its reason
            self.not_ok(name, "%s: %s" % (type(e).__name__, e))

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def cleanup(procs, tmp, logs, show_logs, tail=30):
    """Stops every process, prints the last lines of tmp/NAME.err for each
    name in logs when show_logs, and removes tmp."""
    for p in procs:
        stop(p)
        if p.stdout:
            p.stdout.close()
    for name in logs if show_logs else ():
        path = os.path.join(tmp, name + ".err")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                for ln in f.read().splitlines()[-tail:]:
                    print("# %s: %s" % (name, ln))
    shutil.rmtree(tmp, ignore_errors=True)


def metric_sum(admin, name, **labels):
    """Sum of the samples of metric `name` on admin's /metrics whose labels
    include `labels`."""
    text = urllib.request.urlopen("http://%s/metrics" % admin, timeout=5).read().decode()
    total = 0
    for ln in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), ln)
        if m and all('%s="%s"' % kv in (m.group(1) or "") for kv in labels.items()):
            total += float(m.group(2))
    return total


def wait_parsed(parse, path, pred, what, timeout=10):
    """parse(path) once pred holds of it (a log written by another thread)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = parse(path)
        if pred(lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError("%s: not in %s after %ds; lines: %s" % (what, path, timeout, lines[-8:]))
        time.sleep(0.05)
