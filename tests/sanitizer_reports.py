#!/usr/bin/python3
"""sanitizer_reports: the reports of AddressSanitizer, LeakSanitizer and UBSan
from every process a test started, in a sanitizer build.

The tests of a sanitizer build run with log_path pointing into one directory
(tests/sanitizers.cmake), so every instrumented process, whether ctest runs
it directly or a test script starts it, writes any report to
DIR/TEST.EXE.PID instead of a stderr nobody reads.  Processes killed with
SIGKILL write nothing; a file exists only when there was a report.

  sanitizer_reports.py reset DIR CANARY
      empties DIR, then runs CANARY (a program that leaks one block, and with
      the argument `ub` overflows a signed int) with this process's
      environment and checks that both reports arrive in DIR: otherwise the
      later scan could pass only because reports go elsewhere.
  sanitizer_reports.py check DIR
      fails, listing the first lines of each, when DIR holds any report.
"""
import os
import re
import shutil
import subprocess
import sys

HEAD_LINES = 30


def parse_name(name):
    """TEST.EXE.PID -> (test, exe, pid); test names hold no dots."""
    m = re.match(r"^([^.]+)\.(.+)\.(\d+)$", name)
    return m.groups() if m else (name, "?", "?")


def report_lines(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def excerpt(lines):
    """The first HEAD_LINES lines and every SUMMARY line after them."""
    out = lines[:HEAD_LINES]
    rest = lines[HEAD_LINES:]
    if rest:
        out.append("... (%d more lines)" % len(rest))
        out += [ln for ln in rest if "SUMMARY:" in ln]
    return out


def headline(lines):
    """One line saying what the report is."""
    ub = next((ln for ln in lines if "__ubsan_handle_" in ln), None)
    if ub:
        kind = re.search(r"__ubsan_handle_(\w+)", ub).group(1)
        i = lines.index(ub)
        where = lines[i + 1].split(" in ", 1)[-1].strip() if i + 1 < len(lines) else "?"
        return "UBSan runtime error (%s) in %s; its message is in the process's stderr" % (kind, where)
    err = next((ln for ln in lines if "ERROR:" in ln), None)
    if err:
        return err.split("ERROR:", 1)[1].strip()
    return lines[0] if lines else "(empty report: the process was killed while writing it?)"


def only_suppressions(path):
    """True for a file that only lists the LeakSanitizer suppressions used
    (a process whose leaks were all suppressed, when a test turned
    print_suppressions back on): no report."""
    lines = [ln.strip() for ln in report_lines(path) if ln.strip()]
    return bool(lines) and "Suppressions used:" in lines and all(
        ln.startswith("---") or ln == "Suppressions used:" or re.match(r"^(count\s+bytes\s+template|\d+\s+\d+\s+\S+)$", ln)
        for ln in lines)


def reports(d):
    return sorted(n for n in os.listdir(d)
                  if os.path.isfile(os.path.join(d, n)) and not only_suppressions(os.path.join(d, n)))


def reset(d, canary):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    problems = []
    for mode, want in (("leak", r"ERROR: LeakSanitizer: detected memory leaks"),
                       ("ub", r"__ubsan_handle_add_overflow")):
        before = set(reports(d))
        r = subprocess.run([canary, mode], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        new = [n for n in reports(d) if n not in before]
        text = "\n".join("\n".join(report_lines(os.path.join(d, n))) for n in new)
        if r.returncode == 0 or not re.search(want, text) or not all(
                parse_name(n)[1] == os.path.basename(canary) for n in new):
            problems.append("canary %s: exit %d, files %s, stderr %r" %
                            (mode, r.returncode, new or "none", r.stderr.decode(errors="replace")[-300:]))
        for n in new:
            os.unlink(os.path.join(d, n))
    if problems:
        print("sanitizer reports would not be seen: the canary's reports did not reach %s" % d)
        print("(ASAN_OPTIONS=%r UBSAN_OPTIONS=%r)" % (os.environ.get("ASAN_OPTIONS"),
                                                      os.environ.get("UBSAN_OPTIONS")))
        for p in problems:
            print("  " + p)
        return 1
    print("sanitizer reports go to %s (the canary's leak and runtime error arrived)" % d)
    return 0


def check(d):
    if not os.path.isdir(d):
        print("no report directory %s: the fixture's reset test did not run" % d)
        return 1
    names = reports(d)
    if not names:
        print("no sanitizer reports from any process of the tests")
        return 0
    tests = sorted({parse_name(n)[0] for n in names})
    print("SANITIZER REPORTS from %d process(es) of %d test(s): %s" % (len(names), len(tests), ", ".join(tests)))
    for n in names:
        test, exe, pid = parse_name(n)
        lines = report_lines(os.path.join(d, n))
        print("\n== test %s: %s (pid %s): %s" % (test, exe, pid, headline(lines)))
        print("   (%s)" % os.path.join(d, n))
        for ln in excerpt(lines):
            print("   " + ln)
    print("\nFAILED: %d sanitizer report(s) above (full text in %s)" % (len(names), d))
    return 1


def main(argv):
    if len(argv) == 4 and argv[1] == "reset":
        return reset(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
