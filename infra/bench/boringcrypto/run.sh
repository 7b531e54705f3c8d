#!/usr/bin/env bash
# Issue 22 part 4: the authorizer built with GOEXPERIMENT=boringcrypto (BoringSSL's RSA through
# cgo) against today's build (CGO_ENABLED=0, crypto/rsa) and aws-jwt-verify, in one run.
# An experiment to re-run by hand: not part of CI, make bench or make test.
#
# Usage: bash infra/bench/boringcrypto/run.sh     (≈ 3–4 min on 2 cores; Linux x86_64, Debian/Ubuntu)
#
# It builds, into $OUT/bin: every function for the host as `make build-local` does (the local
# stack issues the token with them); the AuthorizerFunction as today, with boringcrypto linked
# dynamically and statically, for the host and for Lambda (linux/arm64, flags of the Makefile's
# build-<LogicalId>); and both test binaries of ./shared/authorizer. Then it runs
#   1. micro:     ROUNDS short rounds of the first-seen token and the bare verify of both builds
#                 and aws-jwt-verify's harness (infra/bench/aws-jwt-verify-bench.cjs), rotating
#                 the order every round, so that a round's three numbers are seconds apart; then
#                 PATH_ROUNDS rounds of every BenchmarkAuthorizer path of both builds; benchstat
#   2. elf:       sizes, static or dynamic, the GLIBC_x.y symbol versions each bootstrap needs
#   3. coldstart: COLD_REPS cold starts of each host authorizer on a local stack of its own
#                 (with-stack.sh on BORING_PORTS), and each arm64 bootstrap once under qemu-user
#   4. report:    one Markdown report with the issue's decision rule applied ($OUT/report.md)
# One run's median can land either side of 1.3× on a shared machine: run it several times with
# different OUTs and pool the rounds with
#   go run ./infra/bench/boringcrypto pool /tmp/bc-1 /tmp/bc-2 …
#
# Knobs (environment): OUT (default <repo>/.bench/boringcrypto), ROUNDS (15), PATH_ROUNDS (3),
# BENCHTIME (1s), COLD_REPS (10), BORING_PORTS ("8370 8371"), SKIP_COLD=1 (no stack, no cold starts),
# SKIP_QEMU=1 (no arm64 smoke test), GO (go), KEYGATE_CACHE (~/.cache/keygate).
#
# Installed once into $KEYGATE_CACHE, keyed by version, without root and without apt-get install:
#   cross-aarch64-<key>/  Debian's aarch64 cross gcc, binutils and glibc (apt-get download of the
#                         pinned packages below + dpkg -x), with a cc wrapper; versions.txt lists them
#   qemu-aarch64-<ver>/   qemu-aarch64-static from Debian's qemu-user-static
#   benchstat-<ver>/      benchstat at make bench's pinned version
# and, through infra/local/stack/install.sh, the emulators and aws-jwt-verify make bench uses.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)"
cd "$ROOT"
GO="${GO:-go}"
OUT="${OUT:-$ROOT/.bench/boringcrypto}"
ROUNDS="${ROUNDS:-15}"
PATH_ROUNDS="${PATH_ROUNDS:-3}"
BENCHTIME="${BENCHTIME:-1s}"
COLD_REPS="${COLD_REPS:-10}"
read -r -a PORTS <<<"${BORING_PORTS:-8370 8371}"
KEYGATE_CACHE="${KEYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate}"
export KEYGATE_CACHE

log() { printf '[boringcrypto] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] || die "needs a Linux x86_64 host (the host builds are the amd64 variants)"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian or Ubuntu) to fetch the cross compiler"

# Debian 12 (bookworm) packages of the aarch64 cross toolchain. The sanitizer and C++ runtimes
# gcc-12-aarch64-linux-gnu recommends are not needed to link Go programs. When a pin is no
# longer in the apt lists (a point release replaced it), the candidate version is used instead,
# with a warning, and the cache key follows the versions actually used.
CROSS_PKGS=(
	gcc-aarch64-linux-gnu=4:12.2.0-3
	cpp-aarch64-linux-gnu=4:12.2.0-3
	gcc-12-aarch64-linux-gnu=12.2.0-14cross1
	cpp-12-aarch64-linux-gnu=12.2.0-14cross1
	gcc-12-aarch64-linux-gnu-base=12.2.0-14cross1
	gcc-12-cross-base=12.2.0-14cross1
	binutils-aarch64-linux-gnu=2.40-2
	libgcc-12-dev-arm64-cross=12.2.0-14cross1
	libgcc-s1-arm64-cross=12.2.0-14cross1
	libc6-arm64-cross=2.36-8cross1
	libc6-dev-arm64-cross=2.36-8cross1
	linux-libc-dev-arm64-cross=6.1.4-1cross1
)

# candidate PKG: the version apt would install now.
candidate() {
	local v
	v="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
	[[ -n $v && $v != "(none)" ]] || die "apt does not know $1 (run apt-get update, as root)"
	echo "$v"
}

# resolve PKG=VERSION: prints PKG=VERSION if apt knows that version, else PKG=<candidate>.
resolve() {
	local pkg=${1%%=*} want=${1#*=} cand
	if apt-cache show "$pkg=$want" >/dev/null 2>&1; then
		echo "$pkg=$want"
		return
	fi
	cand="$(candidate "$pkg")" || exit 1
	log "WARNING: $pkg $want is not in the apt lists; using $cand"
	echo "$pkg=$cand"
}

# fetch_debs DIR PKG=VERSION...: apt-get download into DIR (no install, no root needed).
fetch_debs() {
	local dir=$1
	shift
	mkdir -p "$dir"
	# Quiet unless it fails (as root, apt warns that it cannot drop to _apt in a private
	# directory: harmless here).
	if ! (cd "$dir" && apt-get download "$@") >"$dir.apt.log" 2>&1; then
		cat "$dir.apt.log" >&2
		die "apt-get download failed (stale apt lists? run apt-get update, as root)"
	fi
	rm -f "$dir.apt.log"
}

# cross_toolchain: sets CROSS (the extracted tree) and CC_ARM64 (a cc wrapper using it).
cross_toolchain() {
	local resolved=() p key tmp
	for p in "${CROSS_PKGS[@]}"; do resolved+=("$(resolve "$p")") || exit 1; done
	key="$(printf '%s\n' "${resolved[@]}" | sha256sum | cut -c1-12)"
	CROSS="$KEYGATE_CACHE/cross-aarch64-$key"
	CC_ARM64="$CROSS/bin/aarch64-linux-gnu-gcc"
	[[ -f $CROSS/.complete ]] && return
	log "installing the aarch64 cross toolchain into $CROSS"
	rm -rf "$CROSS"
	tmp="$(mktemp -d "$KEYGATE_CACHE/.cross-aarch64.XXXXXX")"
	fetch_debs "$tmp/debs" "${resolved[@]}"
	for p in "$tmp"/debs/*.deb; do dpkg-deb -x "$p" "$tmp/root"; done
	mkdir -p "$tmp/root/bin"
	# The tree is relocatable once told where it is: binutils' own shared libraries, and a
	# sysroot so that the headers, crt files and libc.so's absolute paths resolve inside it.
	cat >"$tmp/root/bin/aarch64-linux-gnu-gcc" <<-EOF
		#!/bin/sh
		# Debian's aarch64 cross gcc, extracted by infra/bench/boringcrypto/run.sh.
		LD_LIBRARY_PATH="$CROSS/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" \\
			exec "$CROSS/usr/bin/aarch64-linux-gnu-gcc-12" --sysroot="$CROSS" "\$@"
	EOF
	chmod +x "$tmp/root/bin/aarch64-linux-gnu-gcc"
	printf '%s\n' "${resolved[@]}" >"$tmp/root/versions.txt"
	rm -rf "$tmp/debs"
	mv "$tmp/root" "$CROSS"
	rmdir "$tmp"
	touch "$CROSS/.complete"
}

# qemu: sets QEMU to qemu-aarch64-static (Debian's qemu-user-static, candidate version).
qemu() {
	local ver dir tmp
	ver="$(candidate qemu-user-static)" || exit 1
	dir="$KEYGATE_CACHE/qemu-aarch64-${ver//[^A-Za-z0-9.+-]/_}"
	QEMU="$dir/qemu-aarch64-static"
	[[ -f $dir/.complete ]] && return
	log "installing qemu-aarch64-static $ver into $dir"
	tmp="$(mktemp -d "$KEYGATE_CACHE/.qemu.XXXXXX")"
	fetch_debs "$tmp" "qemu-user-static=$ver"
	dpkg-deb --fsys-tarfile "$tmp"/qemu-user-static_*.deb | tar -x -C "$tmp" ./usr/bin/qemu-aarch64-static
	mkdir -p "$dir"
	mv "$tmp/usr/bin/qemu-aarch64-static" "$QEMU"
	rm -rf "$tmp"
	echo "qemu-user-static=$ver" >"$dir/versions.txt"
	touch "$dir/.complete"
}

# benchstat at the version make bench pins (infra/bench/micro.go).
benchstat_bin() {
	local ver
	ver="$(sed -n 's/^const benchstatVersion = "\(.*\)"$/\1/p' infra/bench/micro.go)"
	[[ -n $ver ]] || ver=v0.0.0-20260908200009-22c9c6c9d4da
	BENCHSTAT="$KEYGATE_CACHE/benchstat-$ver/benchstat"
	[[ -x $BENCHSTAT ]] && return
	log "installing benchstat $ver"
	GOBIN="$KEYGATE_CACHE/benchstat-$ver" GOFLAGS= "$GO" install "golang.org/x/perf/cmd/benchstat@$ver"
}

cross_toolchain
[[ -n ${SKIP_QEMU:-} ]] || qemu
benchstat_bin
set -a
eval "$(bash infra/local/stack/install.sh --print-env)"
set +a
[[ -n ${KEYGATE_NODE_MODULES:-} ]] || die "aws-jwt-verify is not installed (install.sh needs node >= 20 and npm)"

mkdir -p "$OUT"
rm -rf "$OUT/bin"
rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT/report.md" "$OUT/functions.log"
mkdir -p "$OUT/bin"
BIN="$OUT/bin"
LAMBDA_FLAGS=(-tags lambda.norpc -trimpath -ldflags='-s -w')
# boringcrypto needs cgo. netgo and osusergo keep the resolver and user lookups in pure Go, as
# in today's CGO_ENABLED=0 build; BoringSSL's own getaddrinfo reference (its BIO socket code,
# which Go never calls) stays, hence the linker's warning on the static builds.
BORING_TAGS=lambda.norpc,netgo,osusergo
STATIC_LD='-s -w -linkmode=external -extldflags=-static'
build_boring() { # ARCH LINK OUT CC
	local ld='-s -w'
	[[ $2 == static ]] && ld=$STATIC_LD
	GOOS=linux GOARCH=$1 CGO_ENABLED=1 GOEXPERIMENT=boringcrypto CC=$4 \
		"$GO" build -tags "$BORING_TAGS" -trimpath -ldflags="$ld" -o "$3" ./functions/authorizer 2>&1 |
		grep -v -e "warning: Using 'getaddrinfo' in statically linked" -e 'bio_ip_and_port_to_socket_and_addr' -e '^# github.com/keygate' >&2 || true
	[[ -x $3 ]] || die "boringcrypto build for $1 ($2) failed"
}

log "building (host: every function as make build-local; AuthorizerFunction: 3 builds × amd64, arm64)"
for d in functions/*/; do
	fn="$(basename "$d")"
	id="${fn^}Function"
	CGO_ENABLED=0 "$GO" build "${LAMBDA_FLAGS[@]}" -o "$BIN/amd64/standard/$id/bootstrap" "./functions/$fn"
done
A=AuthorizerFunction/bootstrap
build_boring amd64 dynamic "$BIN/amd64/boring-dynamic/$A" gcc
build_boring amd64 static "$BIN/amd64/boring-static/$A" gcc
# arm64: exactly the Makefile's build-AuthorizerFunction today, then the two boringcrypto builds.
GOOS=linux GOARCH=arm64 CGO_ENABLED=0 "$GO" build "${LAMBDA_FLAGS[@]}" -o "$BIN/arm64/standard/$A" ./functions/authorizer
build_boring arm64 dynamic "$BIN/arm64/boring-dynamic/$A" "$CC_ARM64"
build_boring arm64 static "$BIN/arm64/boring-static/$A" "$CC_ARM64"
CGO_ENABLED=0 "$GO" test -c -o "$BIN/standard.test" ./shared/authorizer
CGO_ENABLED=1 GOEXPERIMENT=boringcrypto "$GO" test -c -o "$BIN/boringcrypto.test" ./shared/authorizer
CGO_ENABLED=0 "$GO" build -o "$BIN/boringcrypto" ./infra/bench/boringcrypto
H="$BIN/boringcrypto"

log "micro: $ROUNDS rounds × (standard, boringcrypto, aws-jwt-verify), then $PATH_ROUNDS of every path; benchtime $BENCHTIME"
"$H" micro -standard "$BIN/standard.test" -boring "$BIN/boringcrypto.test" -pkgdir shared/authorizer \
	-rounds "$ROUNDS" -paths-rounds "$PATH_ROUNDS" -benchtime "$BENCHTIME" -dir "$OUT"
{
	"$BENCHSTAT" standard="$OUT/standard.txt" boringcrypto="$OUT/boringcrypto.txt"
	"$BENCHSTAT" "$OUT/aws-jwt-verify.txt"
	if ((PATH_ROUNDS > 0)); then
		echo
		"$BENCHSTAT" standard="$OUT/paths-standard.txt" boringcrypto="$OUT/paths-boringcrypto.txt"
	fi
} >"$OUT/benchstat.txt"

ELF_ARGS=()
for arch in amd64 arm64; do
	for b in standard boring-dynamic boring-static; do ELF_ARGS+=("$arch/$b=$BIN/$arch/$b/$A"); done
done
"$H" elf -dir "$OUT" "${ELF_ARGS[@]}"

if [[ -z ${SKIP_COLD:-} ]]; then
	SMOKE=()
	if [[ -z ${SKIP_QEMU:-} ]]; then
		# lambdarun starts a bootstrap directly: wrap each arm64 one in qemu-user. The dynamic one
		# runs on Debian's glibc 2.36 from the cross tree (no glibc 2.34 here: elf checks that).
		for b in standard boring-dynamic boring-static; do
			w="$BIN/qemu/$b/bootstrap"
			mkdir -p "$(dirname "$w")"
			printf '#!/bin/sh\nexec "%s" -L "%s" "%s" "$@"\n' "$QEMU" "$CROSS/usr/aarch64-linux-gnu" "$BIN/arm64/$b/$A" >"$w"
			chmod +x "$w"
			SMOKE+=(-smoke "arm64/$b (qemu-user)=$w")
		done
	fi
	log "coldstart: $COLD_REPS × 3 host builds on a local stack (ports ${PORTS[*]})"
	bash infra/local/stack/with-stack.sh boringcrypto "${PORTS[0]}" "${PORTS[1]}" -- \
		"$H" coldstart -bin "$BIN/amd64/standard" -template template.yaml -reps "$COLD_REPS" -dir "$OUT" \
		-variant "standard=$BIN/amd64/standard/$A" \
		-variant "boring-dynamic=$BIN/amd64/boring-dynamic/$A" \
		-variant "boring-static=$BIN/amd64/boring-static/$A" "${SMOKE[@]}"
fi

{
	"$H" report -dir "$OUT"
	echo
	echo "Toolchain: $("$GO" version); cross: $(paste -sd' ' "$CROSS/versions.txt")"
	echo
	echo '```'
	cat "$OUT/benchstat.txt"
	echo '```'
} | tee "$OUT/report.md"
log "report: $OUT/report.md (raw: $OUT/*.txt, *.json)"
