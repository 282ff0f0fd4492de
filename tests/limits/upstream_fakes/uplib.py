"""uplib: what the upstream probes of tests/limits share: the e2e helpers on
the path, /metrics samples, the router's resident memory and log lines."""
import os
import re
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))
sys.path.insert(0, HERE)


def metrics(rt):
    with urllib.request.urlopen("http://%s/metrics" % rt["admin"], timeout=10) as r:
        return r.read().decode()


def sample(rt, name, labels=None, text=None):
    """The value of metric `name` (with exactly these labels, a dict), or
    None when the router does not export it."""
    text = text if text is not None else metrics(rt)
    want = "" if not labels else "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
    for ln in text.splitlines():
        if ln.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", ln)
        if not m or m.group(1) != name:
            continue
        got = m.group(2) or ""
        if got:
            got = "{" + ",".join(sorted(got[1:-1].split(","))) + "}"
        if got == want:
            return float(m.group(3))
    return None


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def log_text(fed, name):
    with open(os.path.join(fed.tmp, name + ".err"), errors="replace") as f:
        return f.read()
