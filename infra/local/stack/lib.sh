# shellcheck shell=bash
# Shared helpers for the local-stack scripts (install.sh, up.sh, down.sh, with-stack.sh).
# Source it, don't run it. Everything it defines is prefixed ks_ / KS_ / KEYGATE_ (plus the
# version variables of versions.env), so it can be sourced from other scripts without clashing.
#
# Environment knobs (all optional):
#   KEYGATE_CACHE          where emulators and the venv are installed
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/keygate)
#   KEYGATE_STATE_DIR      where running stacks keep pid files and logs (default <repo>/.stack)
#   KEYGATE_PYTHON         interpreter used to create the venv (default python3)
#   KEYGATE_STACK_TIMEOUT  seconds up.sh waits for each emulator to answer (default 60)
#   KEYGATE_STACK_HOST     the one address the emulators listen on (default 127.0.0.1). The SAM
#                          path sets the Docker bridge's gateway address, so that functions in
#                          containers reach them without exposing them on every interface.

# Scripts sourcing this file are expected to have done `set -euo pipefail` themselves; doing it
# here too makes a direct `source infra/local/stack/lib.sh` in an interactive shell exit the shell on the
# first error, which is worse than not having it.

# --- locations -------------------------------------------------------------------------------

# This file lives in <repo>/infra/local/stack/, so the repo root is three levels up. Derived from the
# file's own location (not `git rev-parse`) so it also works from an exported tarball or when
# called from another working directory.
KEYGATE_STACK_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
KEYGATE_ROOT="$(cd "$KEYGATE_STACK_SCRIPTS/../../.." && pwd -P)"
KEYGATE_CACHE="${KEYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate}"
KEYGATE_STATE_DIR="${KEYGATE_STATE_DIR:-$KEYGATE_ROOT/.stack}"
KEYGATE_PYTHON="${KEYGATE_PYTHON:-python3}"
KEYGATE_STACK_HOST="${KEYGATE_STACK_HOST:-127.0.0.1}"
# Relative overrides are taken relative to the caller's directory, once: pid files, the venv's
# absolute script paths and `cd` into the state dir all need a path that stays valid.
[[ $KEYGATE_CACHE == /* ]] || KEYGATE_CACHE="$PWD/$KEYGATE_CACHE"
[[ $KEYGATE_STATE_DIR == /* ]] || KEYGATE_STATE_DIR="$PWD/$KEYGATE_STATE_DIR"
export KEYGATE_ROOT KEYGATE_CACHE KEYGATE_STATE_DIR

# shellcheck source=versions.env
. "$KEYGATE_STACK_SCRIPTS/versions.env"

# The two emulators of a stack, in start order. Per-service details are in the ks_svc_* helpers.
# shellcheck disable=SC2034 # used by the scripts that source this file
KS_SERVICES=(dynamodb moto)

# --- logging: everything goes to stderr, stdout is reserved for eval-able output --------------

# KS_TAG names the script family in every line (the SAM scripts set keygate-sam). A closed
# stderr (make … | tee, then Ctrl-C) must not make a log line fail a teardown under set -e.
KS_TAG="${KS_TAG:-keygate-stack}"
ks_log() { printf '[%s] %s\n' "$KS_TAG" "$*" >&2 || true; }
ks_warn() { printf '[%s] WARNING: %s\n' "$KS_TAG" "$*" >&2 || true; }
ks_error() { printf '[%s] ERROR: %s\n' "$KS_TAG" "$*" >&2 || true; }
ks_die() {
	ks_error "$@"
	exit 1
}

# ks_need CMD...: fail early with a readable message instead of "command not found" halfway.
ks_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || ks_die "required command '$c' not found in PATH"
	done
}

# ks_tail_log FILE: show the end of an emulator log, indented, to stderr.
ks_tail_log() {
	local file=$1
	if [[ -s $file ]]; then
		printf '[keygate-stack]   --- last 20 lines of %s ---\n' "$file" >&2
		tail -n 20 "$file" | sed 's/^/    /' >&2
		printf '[keygate-stack]   --- end of %s ---\n' "$file" >&2
	else
		printf '[keygate-stack]   (%s is empty or missing)\n' "$file" >&2
	fi
}

# --- argument checks ---------------------------------------------------------------------------

ks_check_port() {
	local what=$1 port=$2
	if [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		ks_die "$what must be a TCP port number (1-65535), got '$port'"
	fi
}

# Stack names become directory names under $KEYGATE_STATE_DIR.
ks_check_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
		ks_die "stack NAME must match [A-Za-z0-9][A-Za-z0-9._-]*, got '$1'"
}

# --- install locations (shared by install.sh --print-env and up.sh) ---------------------------

# The venv is keyed by the requirement files and the interpreter: changing either yields a new
# directory, so an old venv is never half-upgraded in place.
ks_venv_dir() {
	local pyid key
	pyid="$("$KEYGATE_PYTHON" -c 'import sys, platform; print(sys.implementation.name, platform.python_version(), platform.machine())')" ||
		ks_die "cannot run $KEYGATE_PYTHON"
	key="$({
		cat "$KEYGATE_STACK_SCRIPTS/requirements.txt" "$KEYGATE_STACK_SCRIPTS/constraints.txt"
		printf '%s\n' "$pyid"
	} | sha256sum | cut -c1-12)"
	printf '%s/venv-%s\n' "$KEYGATE_CACHE" "$key"
}

# The interop verifiers' node_modules (infra/test/interop) are keyed by the lock file and node's major
# version: a changed pin or another node yields a new directory, never a half-upgraded one.
ks_node_dir() {
	local major key
	major="$(node -p 'process.versions.node.split(".")[0]')" || ks_die "cannot run node"
	key="$({
		cat "$KEYGATE_ROOT/infra/test/interop/package.json" "$KEYGATE_ROOT/infra/test/interop/package-lock.json"
		printf 'node %s\n' "$major"
	} | sha256sum | cut -c1-12)"
	printf '%s/node-%s\n' "$KEYGATE_CACHE" "$key"
}

# --- locking -----------------------------------------------------------------------------------

# ks_lock FILE [TIMEOUT]: take an exclusive flock on FILE for the rest of the calling shell's
# life, and store the fd in KS_LOCK_FD. Long-lived children started while holding it must be
# given `{KS_LOCK_FD}>&-`-style closing (see up.sh), otherwise they keep the lock held after this
# shell exits.
ks_lock() {
	local file=$1 timeout=${2:-900}
	mkdir -p "$(dirname "$file")"
	exec {KS_LOCK_FD}>"$file"
	flock -w "$timeout" "$KS_LOCK_FD" || ks_die "timed out after ${timeout}s waiting for lock $file"
}

# --- processes ---------------------------------------------------------------------------------

# ks_pid_alive PID: true if PID exists and is not a zombie, whatever it runs. Right after a fork
# the child still runs the shell's command line until it execs the emulator: such a PID is
# "starting", not "gone", so readiness checks use this to decide that a process died, and
# ks_pid_matches to decide that it is ours.
ks_pid_alive() {
	local pid=$1 st
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	st="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
	st=${st##*) }
	[[ -n $st && ${st%% *} != Z ]]
}

# ks_pid_matches PID MARKER...: true if PID is a live (non-zombie) process whose command line
# contains every MARKER. Guards against acting on a PID that the kernel recycled for something
# else.
ks_pid_matches() {
	local pid=$1 cmdline m
	shift
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# Zombies have an empty cmdline, so they count as dead here. The trailing space lets a
	# marker like "-port 8300 " match the last argument exactly.
	cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
	[[ -n $cmdline ]] || return 1
	for m in "$@"; do
		[[ $cmdline == *"$m"* ]] || return 1
	done
}

# ks_startup_state PID MARKER...: where a process we just started stands. Returns 0 when it is
# ours (alive, command line matches), 1 when it is alive but does not match yet (between fork
# and exec its command line is still the starting shell's: on a busy machine that window is
# long enough to see), 2 when it is gone (no such PID, or a zombie). Only 2 may end a wait early.
ks_startup_state() {
	local pid=$1
	shift
	ks_pid_alive "$pid" || return 2
	ks_pid_matches "$pid" "$@" || return 1
}

# ks_read_pid FILE: print the PID stored in FILE (empty if none).
ks_read_pid() {
	local file=$1 pid=''
	if [[ -f $file ]]; then read -r pid <"$file" || true; fi
	printf '%s\n' "$pid"
}

# ks_wait_reaped PID: a process that died is a zombie until its parent (init, once up.sh has
# exited) reaps it; wait up to ~1 s for that so `pgrep` right after down.sh shows nothing.
ks_wait_reaped() {
	local i
	for ((i = 0; i < 10; i++)); do
		[[ -e /proc/$1 ]] || return 0
		sleep 0.1
	done
}

# ks_stop_pid PID LABEL MARKER...: TERM, then KILL after ~5 s. Signals the whole process group when
# the process leads its own group (up.sh starts emulators with setsid), so any helper children
# go too and nothing is orphaned.
ks_stop_pid() {
	local pid=$1 label=$2 target i pgid
	shift 2
	ks_pid_matches "$pid" "$@" || return 0
	target=$pid
	# /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces, so cut after ") ".
	pgid="$(cat "/proc/$pid/stat" 2>/dev/null || true)"
	pgid=${pgid##*) }
	read -r _ _ pgid _ <<<"$pgid"
	if [[ $pgid == "$pid" ]]; then target="-$pid"; fi
	ks_log "stopping $label (pid $pid)"
	kill -TERM -- "$target" 2>/dev/null || true
	# A stopped (SIGSTOP/Ctrl-Z) process would only act on the TERM once continued.
	kill -CONT -- "$target" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		ks_pid_matches "$pid" "$@" || {
			ks_wait_reaped "$pid"
			return 0
		}
		sleep 0.1
	done
	ks_warn "$label (pid $pid) did not exit within 5s of SIGTERM; sending SIGKILL"
	kill -KILL -- "$target" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		ks_pid_matches "$pid" "$@" || {
			ks_wait_reaped "$pid"
			return 0
		}
		sleep 0.1
	done
	ks_error "$label (pid $pid) still alive after SIGKILL"
	return 1
}

# --- per-service details ------------------------------------------------------------------------

ks_svc_label() {
	case "$1" in
	dynamodb) echo "moto server (DynamoDB)" ;;
	moto) echo "moto server (Secrets Manager)" ;;
	*) ks_die "unknown service $1" ;;
	esac
}

# ks_svc_markers SVC [PORT]: set KS_MARKERS to the strings that identify SVC's process in
# /proc/PID/cmdline (see ks_pid_matches). up.sh puts the port option last on each command line,
# so "-p 8300 " (with the trailing space) cannot match 83001.
ks_svc_markers() {
	local svc=$1 port=${2:-}
	case "$svc" in
	dynamodb)
		KS_MARKERS=("infra/local/stack/moto_serialised.py")
		[[ -z $port ]] || KS_MARKERS+=("-p $port ")
		;;
	moto)
		KS_MARKERS=("infra/local/stack/moto_serialised.py")
		[[ -z $port ]] || KS_MARKERS+=("-p $port ")
		;;
	*) ks_die "unknown service $svc" ;;
	esac
}

# --- ports and HTTP probes ---------------------------------------------------------------------

# ks_port_in_use PORT: true if anything listens on PORT. `ss` sees listeners on any address
# (an emulator bound to 0.0.0.0 elsewhere still blocks ours on 127.0.0.1); the
# /dev/tcp connect is the fallback where ss (iproute2) is missing.
ks_port_in_use() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]] && return 0
	fi
	(exec 3<>"/dev/tcp/$KEYGATE_STACK_HOST/$port") 2>/dev/null
}

# ks_port_owner PORT: best-effort description of who listens on PORT (for error messages).
ks_port_owner() {
	local port=$1 out=''
	if command -v ss >/dev/null 2>&1; then
		# users:(("python3",pid=123,fd=3)) -> python3 (pid 123)
		out="$(ss -Htlnp "sport = :$port" 2>/dev/null |
			sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\),.*/\1 (pid \2)/p' | head -n 1)"
	fi
	printf '%s\n' "${out:-another process}"
}

# ks_port_owned_by PORT PID: true if PID itself listens on PORT. Without this, an emulator that
# is still starting (and will fail to bind) could be declared ready because some other process
# grabbed the port after our free-port check and answers the probe. Where ss is missing the
# answer is "yes" (the probe alone then decides).
ks_port_owned_by() {
	local port=$1 pid=$2
	command -v ss >/dev/null 2>&1 || return 0
	[[ "$(ss -Htlnp "sport = :$port" 2>/dev/null)" == *"pid=$pid,"* ]]
}

# ks_http_probe PORT METHOD PATH [HEADER...]: send one HTTP/1.1 request to KEYGATE_STACK_HOST:PORT with
# an empty JSON body and succeed if anything that looks like an HTTP status line comes back.
# Pure bash (/dev/tcp) so readiness checks need neither curl nor python.
ks_http_probe() {
	local port=$1 method=$2 path=$3 h req line
	shift 3
	req="$method $path HTTP/1.1"$'\r\n'"Host: $KEYGATE_STACK_HOST:$port"$'\r\n'"Connection: close"$'\r\n'
	for h in "$@"; do req+="$h"$'\r\n'; done
	req+="Content-Length: 2"$'\r\n\r\n''{}'
	(
		exec 3<>"/dev/tcp/$KEYGATE_STACK_HOST/$port" || exit 1
		printf '%s' "$req" >&3
		IFS= read -r -t 5 line <&3 || exit 1
		[[ $line == HTTP/* ]]
	) 2>/dev/null
}

# DynamoDB answers any POST; a dummy SigV4 header keeps it from bailing out before routing.
ks_probe_dynamodb() {
	ks_http_probe "$1" POST / \
		'Content-Type: application/x-amz-json-1.0' \
		'X-Amz-Target: DynamoDB_20120810.ListTables' \
		'Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x'
}

ks_probe_moto() { ks_http_probe "$1" GET /moto-api/; }

# ks_wait_until TIMEOUT CHECK...: run CHECK every 0.2 s until it returns 0 (ready, returns 0) or
# 2 (hopeless, e.g. the process died: returns 2), or TIMEOUT seconds pass (returns 1).
ks_wait_until() {
	local timeout=$1 rc deadline
	shift
	deadline=$((SECONDS + timeout))
	while :; do
		rc=0
		"$@" || rc=$?
		((rc == 0 || rc == 2)) && return "$rc"
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
}
