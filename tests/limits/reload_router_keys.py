#!/usr/bin/python3
"""reload_router_keys: a reload that changes [router] settings says which
took effect and which need a restart.

    /usr/bin/python3 tests/limits/reload_router_keys.py BUILD_DIR

The router starts with upstream.call_timeout_ms = 3000, workers = 2 and
log.level = info. The file is replaced (by rename) with 500, 3 and debug.
The reload must log one warning naming upstream.call_timeout_ms and workers
as needing a restart (and not log.level), and log.level as applied. --help
marks each key [reload] or [restart] accordingly.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_fakes"))
import opslib  # noqa: E402  (puts the e2e helpers on the path)
import procs  # noqa: E402
from fed import Fed  # noqa: E402

expect = procs.expect


def main(argv):
    build = os.path.abspath(argv[1])
    fed = Fed(build, prefix="fedrouter-limits.")
    T = procs.Tally()
    failed = True
    try:
        fed.minidfs("ns1")
        rt = fed.router("[mount /a]\ndestinations = ns1:/a\n", default_ns="ns1",
                        router_keys="upstream.call_timeout_ms = 3000\nlog.level = info\n")
        with open(rt["conf"]) as f:
            text = f.read()
        new = text.replace("upstream.call_timeout_ms = 3000", "upstream.call_timeout_ms = 500")
        new = new.replace("log.level = info", "log.level = debug").replace("workers = 2", "workers = 3")
        expect(new.count("= 500") == 1 and "workers = 3" in new, "could not edit the file")
        snap0 = opslib.snapshot_no(rt)
        with open(rt["conf"] + ".new", "w") as f:
            f.write(new)
        os.rename(rt["conf"] + ".new", rt["conf"])
        got = opslib.wait_for(lambda: opslib.snapshot_no(rt) > snap0, 10, 0.05)
        time.sleep(0.2)
        log = opslib.log_text(fed.tmp, "fedrouter")
        restart = [ln for ln in log.splitlines() if "restart" in ln]
        applied = [ln for ln in log.splitlines() if "appl" in ln and "log.level" in ln]
        for ln in restart + applied:
            print("# log: %s" % ln)

        def reloaded():
            expect(got, "the new file was not loaded (snapshot still %d)" % snap0)
        T.check("the changed file is reloaded", reloaded)

        def warned():
            expect(restart, "no log line says a changed key needs a restart")
            expect(len(restart) == 1, "%d restart lines for one reload" % len(restart))
            ln = restart[0]
            for key in ("upstream.call_timeout_ms", "workers"):
                expect(re.search(r"\b%s\b" % re.escape(key), ln), "the restart warning does not name %s" % key)
            expect("log.level" not in ln, "log.level is named as needing a restart, but a reload applies it")
            expect("warn" in ln.lower() or "fedrouter:" in ln, "not a warning: %s" % ln)
        T.check("a warning names upstream.call_timeout_ms and workers as needing a restart", warned)

        def applied_ok():
            expect(applied, "no log line says log.level took effect")
        T.check("log.level is logged as applied", applied_ok)

        def help_marks():
            out = subprocess.run([os.path.join(build, "router", "fedrouter"), "--help"], capture_output=True,
                                 text=True, timeout=10).stdout
            for key, mark in (("upstream.call_timeout_ms", "[restart]"), ("workers", "[restart]"),
                              ("log.level", "[reload]"), ("default.nameservice", "[reload]")):
                line = [ln for ln in out.splitlines() if ln.strip().startswith(key + " ")]
                expect(line and mark in line[0], "--help does not mark %s %s: %s" % (key, mark, line))
        T.check("--help marks each key [reload] or [restart]", help_marks)
        rc = T.finish()
        failed = rc != 0
        return rc
    finally:
        fed.close(show_logs=failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
