#!/usr/bin/env bash
# run.sh — set up and run quantbench on a Debian machine.
#
#   ./run.sh          install what is missing, build, run the default suite into
#                     results/quantbench.db and write the report to reports/latest/
#   ./run.sh test     the same set-up, then the whole test suite (ctest)
#   ./run.sh asan     the test suite in a separate AddressSanitizer + UBSan build
#
# A second run with nothing changed reinstalls and rebuilds nothing. Environment:
#   QB_BUILD_DIR   build directory (default build, build-asan for asan)
#   QB_CMAKE_ARGS  extra cmake arguments, e.g. -DQB_CUDA=OFF
#   CI             when set (as CI does), warnings are errors and oracle tests may not skip
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-run}
case "$mode" in
  run|test|asan) ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "run.sh: unknown mode '$mode' (use: ./run.sh [test|asan])" >&2; exit 2 ;;
esac

say() { [ -t 2 ] && printf '\033[1m==> %s\033[0m\n' "$*" >&2 || printf '==> %s\n' "$*" >&2; }

# ---- system packages ------------------------------------------------------------------------
packages=(build-essential cmake pkg-config git libsqlite3-dev sqlite3 libopenblas-dev libcjson-dev libdnnl-dev gnuplot-nox python3)
[ "$mode" = run ] || packages+=(python3-venv chromium fonts-dejavu-core) # chromium: the report's browser test
[ "$mode" = asan ] && packages+=(clang libclang-rt-14-dev) # libFuzzer targets (cmake/fuzz.cmake)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
  case $p in # a python3 from elsewhere (pyenv, conda) that has what we need will do
    python3) command -v python3 >/dev/null && continue ;;
    python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null && continue ;;
  esac
  missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "run.sh: missing packages; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# ---- build ------------------------------------------------------------------------------------
build=${QB_BUILD_DIR:-build}
args=(-DCMAKE_BUILD_TYPE=Release)
if [ "$mode" = asan ]; then
  build=${QB_BUILD_DIR:-build-asan}
  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DQB_SANITIZE=ON -DQB_FUZZ=ON)
fi
[ -n "${CI:-}" ] && args+=(-DQB_WERROR=ON)

# test oracles — numpy, ml_dtypes, gguf (llama.cpp's reader) and llama-cpp-python (which
# compiles llama.cpp: minutes, once) — live in one venv shared by the test builds: never
# installed into the system, and only fetched once
if [ "$mode" != run ]; then
  venv=${QB_ORACLES_VENV:-build/oracles}
  if ! "$venv/bin/python" -c 'import numpy, ml_dtypes, gguf, llama_cpp' 2>/dev/null; then
    say "installing test oracles (numpy, ml_dtypes, gguf, llama-cpp-python) into $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy ml_dtypes gguf llama-cpp-python
  fi
  args+=("-DQB_TEST_PYTHON=$PWD/$venv/bin/python")
fi
# shellcheck disable=SC2206
args+=(${QB_CMAKE_ARGS:-})

stamp="$build/.run.sh-configure"
if [ ! -f "$build/CMakeCache.txt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${args[*]}" ]; then
  say "configuring $build"
  cmake -S . -B "$build" "${args[@]}" >&2
  echo "${args[*]}" >"$stamp"
fi
cmake --build "$build" -j"$(nproc)" >&2 # stdout is for results

# ---- run ----------------------------------------------------------------------------------
if [ "$mode" != run ]; then
  export QB_REQUIRE_ORACLES=${CI:+1}
  if [ "$mode" = asan ]; then
    # CUDA's runtime maps memory where ASan keeps its shadow gap
    export ASAN_OPTIONS=${ASAN_OPTIONS:-protect_shadow_gap=0:detect_leaks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  fi
  cd "$build"
  exec ctest --output-on-failure -j"$(nproc)" --timeout 900
fi

db=results/quantbench.db
out=reports/latest
say "running the default suite into $db; the report goes to $out"
"$build/quantbench" --db "$db" run --suite default --report "$out"
echo
echo "Results database: $db   (query it with: sqlite3 $db)"
echo "Report:           $out/index.html   (also $out/index.md, $out/errors.csv)"
