#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other, for FUZZTIME each (default 60s),
# and prints a summary line per target (executions, new corpus entries). A failing target stops
# the run with its reproducer path (go test writes it under the package's testdata/fuzz).
#
# Usage: infra/fuzz.sh [FUZZTIME]      e.g. infra/fuzz.sh 10s
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${1:-${FUZZTIME:-60s}}
go=${GO:-go}

mapfile -t pkgs < <("$go" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | sed '/^$/d')
total=0
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <("$go" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for target in "${targets[@]}"; do
		total=$((total + 1))
		start=$(date +%s)
		out=$("$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1) || {
			printf '%s\n' "$out" >&2
			echo "fuzz: $pkg $target FAILED (reproducer above, under testdata/fuzz/$target)" >&2
			exit 1
		}
		execs=$(printf '%s\n' "$out" | sed -n 's/.*execs: \([0-9]*\).*/\1/p' | tail -n 1)
		newc=$(printf '%s\n' "$out" | sed -n 's/.*new interesting: \([0-9]*\).*/\1/p' | tail -n 1)
		printf 'fuzz: %-45s %-28s %4ss  %10s execs  %4s new\n' "${pkg#github.com/keygate/keygate/}" "$target" \
			"$(($(date +%s) - start))" "${execs:-?}" "${newc:-0}"
	done
done
echo "fuzz: $total targets, $fuzztime each, all passed"
