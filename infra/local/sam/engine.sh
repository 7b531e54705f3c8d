#!/usr/bin/env bash
# A Docker engine for `sam local`: the user's own, or a private dockerd from Debian packages.
#
# Usage: engine.sh up     print eval-able DOCKER_HOST=… and KEYGATE_DOCKER_STARTED=0|1
#        engine.sh find   the same, but only for an engine that already runs (never starts one)
#        engine.sh down   stop the private dockerd if this user's keygate started one
#        engine.sh cli    print the docker client it uses
#
# up uses, in this order:
#   1. the engine DOCKER_HOST (or the default socket) already points to, when `docker info`
#      answers there (the usual case on a laptop with Docker Desktop or a system dockerd);
#   2. on Linux as root, a private dockerd: Debian's docker.io, containerd and runc fetched with
#      `apt-get download` and unpacked with `dpkg-deb -x` into $KEYGATE_CACHE (nothing is
#      installed system-wide), images in $KEYGATE_CACHE/docker-data, its socket under
#      ${XDG_RUNTIME_DIR:-/tmp}. It runs with --iptables=false: containers reach the host's
#      bridge address (where the SAM stack's emulators listen) and nothing else.
# Otherwise it names what is missing and how to get it, and exits 1 with nothing left running.
# Progress goes to stderr; stdout carries only the eval-able lines.
set -euo pipefail

KS_TAG=keygate-sam
# shellcheck source=../stack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../stack/lib.sh"

RUN_DIR="${XDG_RUNTIME_DIR:-/tmp}/keygate-docker-$(id -u)"
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
DATA_ROOT="$KEYGATE_CACHE/docker-data"
PACKAGES=(docker.io containerd runc tini)

# engine_answers [DOCKER_HOST]: true if a Docker engine answers there (a client is needed: the
# user's `docker`, or the one unpacked with the private engine).
engine_answers() {
	local host=${1:-} cli
	cli="$(docker_cli)" || return 1
	if [[ -n $host ]]; then
		DOCKER_HOST=$host timeout 10 "$cli" info >/dev/null 2>&1
	else
		timeout 10 "$cli" info >/dev/null 2>&1
	fi
}

# docker_cli: the unpacked client when the private engine is installed, else the user's.
docker_cli() {
	local d
	d="$(pkg_dir 2>/dev/null)" && [[ -x $d/root/usr/bin/docker ]] && {
		printf '%s\n' "$d/root/usr/bin/docker"
		return 0
	}
	command -v docker
}

# pkg_dir: the unpack directory, keyed by the candidate versions of the packages, so a Debian
# update yields a new directory instead of a half-upgraded one.
pkg_dir() {
	local key
	command -v apt-cache >/dev/null 2>&1 || return 1
	key="$(apt-cache policy "${PACKAGES[@]}" 2>/dev/null | sed -n 's/^ *Candidate: //p' | sha256sum | cut -c1-12)"
	printf '%s/docker-%s\n' "$KEYGATE_CACHE" "$key"
}

install_engine() {
	local dir=$1 tmp f
	[[ -f $dir/.keygate-installed ]] && return 0
	command -v apt-get >/dev/null 2>&1 || ks_die "no Docker engine answers and this is not a Debian-like system: install Docker (https://docs.docker.com/engine/install/) and start it"
	ks_log "installing a private Docker engine (Debian ${PACKAGES[*]}) into $dir"
	tmp="$(mktemp -d)"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	if ! (cd "$tmp" && apt-get download "${PACKAGES[@]}" >&2 2>/dev/null); then
		ks_log "apt-get download failed; refreshing the package lists once"
		apt-get update -qq >&2 || ks_die "apt-get update failed: no Debian mirror reachable, so no Docker engine can be installed"
		(cd "$tmp" && apt-get download "${PACKAGES[@]}" >&2) || ks_die "apt-get download ${PACKAGES[*]} failed"
	fi
	rm -rf "$dir"
	mkdir -p "$dir/root"
	for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$dir/root"; done
	[[ -x $dir/root/usr/sbin/dockerd ]] || ks_die "the docker.io package held no dockerd"
	touch "$dir/.keygate-installed"
}

up() {
	local start=${1:-start}
	if engine_answers "${DOCKER_HOST:-}"; then
		ks_log "using the Docker engine at ${DOCKER_HOST:-the default socket}"
		[[ -z ${DOCKER_HOST:-} ]] || printf 'DOCKER_HOST=%s\n' "$DOCKER_HOST"
		printf 'KEYGATE_DOCKER_STARTED=0\n'
		return 0
	fi
	if [[ -S $SOCK ]] && engine_answers "unix://$SOCK"; then
		ks_log "using keygate's private Docker engine (unix://$SOCK), already running"
		printf 'DOCKER_HOST=unix://%s\nKEYGATE_DOCKER_STARTED=0\n' "$SOCK"
		return 0
	fi
	[[ $start == start ]] || ks_die "no Docker engine runs: start make sam-local first"
	[[ $(uname -s) == Linux ]] || ks_die "no Docker engine answers (docker info failed): start Docker Desktop, or point DOCKER_HOST at a running engine"
	[[ $(id -u) == 0 ]] || ks_die "no Docker engine answers (docker info failed), and starting a private one needs root: install Docker (https://docs.docker.com/engine/install/), add yourself to the docker group, or run as root"
	local dir
	dir="$(pkg_dir)" || ks_die "no Docker engine answers and apt-cache is missing: install Docker (https://docs.docker.com/engine/install/)"
	install_engine "$dir"
	mkdir -p "$RUN_DIR" "$DATA_ROOT"
	ks_log "starting a private dockerd (data: $DATA_ROOT, log: $RUN_DIR/dockerd.log)"
	# setsid: a Ctrl-C in the caller's terminal must not reach dockerd before its containers are
	# removed; down stops it explicitly.
	PATH="$dir/root/usr/sbin:$dir/root/usr/bin:$PATH" setsid "$dir/root/usr/sbin/dockerd" \
		--data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" --pidfile "$PIDFILE" \
		-H "unix://$SOCK" --iptables=false --ip-masq=false \
		</dev/null >"$RUN_DIR/dockerd.log" 2>&1 &
	local i
	for ((i = 0; i < 150; i++)); do
		engine_answers "unix://$SOCK" && break
		if ! kill -0 "$!" 2>/dev/null; then
			tail -n 20 "$RUN_DIR/dockerd.log" >&2 || true
			ks_die "dockerd exited during startup (ks_log above: $RUN_DIR/dockerd.log)"
		fi
		sleep 0.2
	done
	engine_answers "unix://$SOCK" || {
		down
		ks_die "dockerd did not answer within 30 s (log: $RUN_DIR/dockerd.log)"
	}
	ks_log "private Docker engine ready (unix://$SOCK)"
	printf 'DOCKER_HOST=unix://%s\nKEYGATE_DOCKER_STARTED=1\n' "$SOCK"
}

down() {
	local pid i
	[[ -f $PIDFILE ]] || return 0
	pid="$(cat "$PIDFILE")"
	if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "dockerd.*$RUN_DIR"; then
		ks_log "stopping the private dockerd (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
}

case "${1:-}" in
up) up ;;
find) up find ;;
down) down ;;
cli) docker_cli ;;
*) ks_die "usage: engine.sh up|find|down|cli" ;;
esac
