#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other, for FUZZTIME each (default 60s),
# and prints a summary line per target (executions, new corpus entries). A failing target stops
# the run with its reproducer path (go test writes it under the package's testdata/fuzz).
#
# Go 1.26's fuzz coordinator has a shutdown race (go.dev/issue/75804, fixed in Go 1.27): when a
# duration -fuzztime ends while a worker is mid-call, the target can FAIL with a bare "context
# deadline exceeded" and no failing input. That is not a finding, but it must not be waved
# through either: such a target is run again with an execution-count budget (the executions it
# had reached), which has no wall-clock deadline to race, and only that run's verdict counts.
# A run that wrote a failing input always fails.
#
# Usage: infra/test/fuzz.sh [FUZZTIME]      e.g. infra/test/fuzz.sh 10s
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fuzztime=${1:-${FUZZTIME:-60s}}
go=${GO:-go}

# fuzz_once PKG TARGET BUDGET: runs one target; its output is in $out, its exit status returned.
fuzz_once() {
	local rc=0
	out=$("$go" test -run '^$' -fuzz "^$2\$" -fuzztime "$3" "$1" 2>&1) || rc=$?
	return "$rc"
}

# coordinator_race: whether $out is the go.dev/issue/75804 signature: the target's only failure
# is "context deadline exceeded" and no failing input was written.
coordinator_race() {
	! grep -q 'Failing input written to' <<<"$out" &&
		! grep -q -- '--- FAIL: .*' <(grep -v -- "--- FAIL: $target " <<<"$out") &&
		grep -A1 -- "--- FAIL: $target " <<<"$out" | tail -n 1 | grep -qx '[[:space:]]*context deadline exceeded'
}

last_number() { sed -n "s/.*$1: \([0-9]*\).*/\1/p" <<<"$out" | tail -n 1; }

mapfile -t pkgs < <("$go" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | sed '/^$/d')
total=0
reruns=0
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <("$go" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for target in "${targets[@]}"; do
		total=$((total + 1))
		start=$(date +%s)
		note=""
		if ! fuzz_once "$pkg" "$target" "$fuzztime"; then
			if ! coordinator_race; then
				printf '%s\n' "$out" >&2
				echo "fuzz: $pkg $target FAILED (reproducer above, under testdata/fuzz/$target)" >&2
				exit 1
			fi
			budget="$(last_number execs)"
			budget="${budget:-0}"
			if [ "$budget" -lt 1000 ]; then budget=1000; fi
			echo "fuzz: $target hit Go's fuzztime shutdown race (go.dev/issue/75804, no failing input); again with -fuzztime ${budget}x" >&2
			reruns=$((reruns + 1))
			note=" (re-run by count)"
			if ! fuzz_once "$pkg" "$target" "${budget}x"; then
				printf '%s\n' "$out" >&2
				echo "fuzz: $pkg $target FAILED on its count-budget re-run (output above; any reproducer is under testdata/fuzz/$target)" >&2
				exit 1
			fi
		fi
		printf 'fuzz: %-45s %-28s %4ss  %10s execs  %4s new%s\n' "${pkg#github.com/keygate/keygate/}" "$target" \
			"$(($(date +%s) - start))" "$(last_number execs || true)" "$(last_number 'new interesting' || true)" "$note"
	done
done
echo "fuzz: $total targets, $fuzztime each, all passed ($reruns re-run by count after Go's fuzztime race)"
