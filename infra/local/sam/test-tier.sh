#!/usr/bin/env bash
# The SAM tier of the tests: infra/test/e2e's user-facing contract (its externalTier) through
# `sam local start-api`, on a stack of its own (emulators on 8410/8411, API on 3410), started
# with the e2e suite's own template parameters (read from the test binary, not repeated here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
mkdir -p .build/tools
go test -c -o .build/tools/e2e.test ./infra/test/e2e
params="$(cd infra/test/e2e && KEYGATE_E2E_PRINT_PARAMS=1 ../../../.build/tools/e2e.test | tr '\n' ' ')"
[[ $params == *Stage=* ]] || { echo "test-tier: the e2e binary printed no parameters" >&2; exit 1; }
export KEYGATE_LOCAL_BIN="$PWD/.build/local" KEYGATE_PARITY_REPORT="$PWD/.stack/sam-e2e/parity.md"
KEYGATE_SAM_PARAMS="$params" exec bash infra/local/sam/sam-local.sh sam-e2e 8410 8411 3410 -- \
	bash -c 'cd infra/test/e2e && KEYGATE_REQUIRE_EMULATORS=1 exec ../../../.build/tools/e2e.test -test.count=1 ${KEYGATE_SAM_TEST_FLAGS:-}'
