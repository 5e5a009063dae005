# shellcheck shell=bash
# Helpers for test scripts: each test prints exactly one PASS or FAIL line;
# test/run.sh counts them. Source this from a test/t_*.sh script.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVMRUN=${KVMRUN:-$TOP/kvmrun}
GUEST_OUT=${GUEST_OUT:-$TOP/test/guest/out}
TMP=$(mktemp -d /tmp/kvmrun-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# skip: only for a precondition the machine lacks, never to hide a failure
skip() { echo "SKIP $1: $2"; }
