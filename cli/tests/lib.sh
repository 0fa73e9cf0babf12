# lib.sh — what the black-box command-line tests share: argument checks, a scratch directory,
# running a command with its stdout/stderr/exit code kept, and expectations that print the
# evidence when they fail. Source it from a test script:
#
#   . "$(dirname "$0")/../../cli/tests/lib.sh" "$@"    (args: /abs/quantbench [/abs/gguf_tool])
#
# then call `finish` last: it prints "N passed, M failed" and exits 1 when M > 0.

QB=${1:-}
if [ -z "$QB" ] || [ ! -x "$QB" ]; then
    echo "usage: bash $0 /abs/path/to/quantbench (got '${QB}': not an executable)" >&2
    exit 1
fi
case $QB in /*) ;; *) QB=$PWD/$QB ;; esac
GT=${2:-}
[ -n "$GT" ] && case $GT in /*) ;; *) GT=$PWD/$GT ;; esac
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is needed to generate and check data"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/qb_cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1 # so a default --db (results/quantbench.db) could never touch the checkout

PASS=0
FAIL=0
LAST_CMD=""
RC=0
OUT=$T/stdout
ERR=$T/stderr

# run CMD…: runs one quantbench command line (or any command), keeping stdout, stderr, rc.
run() {
    LAST_CMD=$(printf '%q ' "$@")
    "$@" >"$OUT" 2>"$ERR"
    RC=$?
}
qb() { run "$QB" "$@"; }

# fail NAME [DETAIL]: counts a failure and prints the evidence of the last command.
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL: $1"
    echo "  command:   ${LAST_CMD}"
    echo "  exit code: ${RC}"
    [ -n "${2:-}" ] && printf '  %s\n' "$2"
    if [ -s "$ERR" ]; then
        echo "  stderr:"
        head -n 20 "$ERR" | sed 's/^/    | /'
    else
        echo "  stderr: (empty)"
    fi
}
pass() { PASS=$((PASS + 1)); }

# check NAME TEST…: one independent expectation; TEST is any command (test, grep, …).
check() {
    local name=$1
    shift
    if "$@"; then pass; else fail "$name" "failed test: $*"; fi
}
expect_rc() { # NAME EXPECTED
    if [ "$RC" -eq "$2" ]; then pass; else fail "$1: exit code" "expected exit $2, got $RC"; fi
}
expect_one_err_line() { # NAME
    local n
    n=$(wc -l <"$ERR")
    if [ "$n" -eq 1 ] && [ "$(tail -c1 "$ERR" | od -An -c | tr -d ' ')" = '\n' ]; then pass
    else fail "$1: exactly one line on stderr" "expected 1 newline-terminated line, got $n"; fi
}
expect_err_has() { # NAME FRAGMENT (fixed string)
    if grep -qF -- "$2" "$ERR"; then pass; else fail "$1: stderr names the problem" "expected stderr to contain: $2"; fi
}
expect_err_re() { # NAME ERE
    if grep -qE -- "$2" "$ERR"; then pass; else fail "$1: stderr names the problem" "expected stderr to match /$2/"; fi
}
expect_err_empty() {
    if [ ! -s "$ERR" ]; then pass; else fail "$1: nothing on stderr" "expected empty stderr"; fi
}
# bad NAME EXPECTED_RC ARGS…: a command that must fail with that code and one stderr line.
bad() {
    local name=$1 want=$2
    shift 2
    qb "$@"
    expect_rc "$name" "$want"
    expect_one_err_line "$name"
}
# pycheck NAME SCRIPT ARGS…: a Python check that prints its evidence and exits non-zero on failure.
pycheck() {
    local name=$1 script=$2 out
    shift 2
    if out=$(python3 -c "$script" "$@" 2>&1); then pass
    else
        FAIL=$((FAIL + 1))
        echo "FAIL: $name"
        echo "  after command: ${LAST_CMD}"
        printf '%s\n' "$out" | head -n 20 | sed 's/^/    | /'
    fi
}
sql() { # DB SQL → runs one statement, prints the result (python3's sqlite3, so the sqlite3 CLI is not required)
    python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)  # autocommit: writes stick
for r in c.execute(sys.argv[2]): print("|".join("" if v is None else str(v) for v in r))' "$1" "$2"
}

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] || exit 1
    exit 0
}
