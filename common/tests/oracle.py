"""oracle.py — what every Python test oracle (*/tests/oracle_*.py) shares: how it skips when its
peer is not installed, how it counts and reports checks, and how it runs our executables.

An oracle script starts with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "tests"))
    import oracle

and ends with sys.exit(oracle.finish()). ctest reads exit 77 as SKIP (SKIP_RETURN_CODE), 0 as
pass, anything else as failure; the last line printed is "N passed, M failed".
"""
import os
import subprocess
import sys

passed = 0
failed = 0
MAX_SHOWN = 40  # failures printed in full; a broken kernel fails thousands of checks


def skip(reason):
    """The oracle's peer (numpy, gguf, ml_dtypes, llama-cpp-python, a text file) is missing: exit
    77, or 1 with QB_REQUIRE_ORACLES=1, which CI sets because it installs them all."""
    if os.environ.get("QB_REQUIRE_ORACLES") == "1":
        print("FAIL: %s (QB_REQUIRE_ORACLES=1)" % reason)
        sys.exit(1)
    print("SKIP: " + reason)
    sys.exit(77)


def check(ok, msg, evidence=()):
    """Counts one check; a failure prints "FAIL: msg" and the evidence, a line or a list of lines."""
    global passed, failed
    if ok:
        passed += 1
        return bool(ok)
    failed += 1
    if failed <= MAX_SHOWN:
        print("FAIL: " + str(msg))
        for line in [evidence] if isinstance(evidence, str) else evidence:
            print("    " + str(line))
    elif failed == MAX_SHOWN + 1:
        print("(further failures are counted, not shown)")
    return False


def result(name, ok, evidence=()):
    """check() with the name first, as the format oracles read."""
    return check(ok, name, evidence)


def finish():
    """Prints the summary line and returns the exit status."""
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run(exe, *args, timeout=300, **kw):
    """Runs one of our executables: (exit status, stdout, stderr) as text."""
    p = subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr
