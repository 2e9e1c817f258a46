#!/usr/bin/env bash
# Every test Berth has: installs the real clients (cached in .tools/), type-checks, builds dist/, then runs the
# unit, HTTP and end-to-end suites with node's test runner, whose summary closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if ! bash scripts/install-tools.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "test: installing the real clients failed; CI needs them" >&2
    exit 1
  fi
  echo "test: some real clients could not be installed; their tests will be skipped" >&2
fi

tsc --noEmit -p .
tsc --noEmit -p portal
eslint .
# The end-to-end suites start bin/berth, which runs this build: what users run is what is tested.
node scripts/build.mjs
export BERTH_TEST_BUILT=true
node --test --test-concurrency=2 --test-reporter=spec "${@:-test/**/*.test.ts}"
