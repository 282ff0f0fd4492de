"""procs: starting and stopping the processes of a Python end-to-end test
(backends, routers) and reading their ready lines."""
import os
import re
import select
import socket
import subprocess
import time


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
