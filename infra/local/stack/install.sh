#!/usr/bin/env bash
# Installs the local-stack emulators and tools into $KEYGATE_CACHE, idempotently:
#   - a Python venv with requirements.txt -> $KEYGATE_CACHE/venv-<hash>/ (moto serves both
#     DynamoDB and Secrets Manager; see infra/local/stack/moto_serialised.py)
#   - the interop verifiers' node_modules (infra/test/interop/package-lock.json, `npm ci`)
#       -> $KEYGATE_CACHE/node-<hash>/node_modules; skipped with a warning when node >= 20 and
#       npm are missing (only the interop test needs them, and it fails without them)
# Each part writes a marker file only after it fully succeeded, so an interrupted install is
# redone from scratch next time, and a complete one is skipped in well under a second.
# flock serialises concurrent runs (e.g. `make run` and `make test` started together).
#
# Usage: install.sh [--print-env]
#   --print-env  after installing, print eval-able KEYGATE_VENV=... and
#                (when node is there) KEYGATE_NODE_MODULES=... lines
# Progress messages go to stderr; stdout carries only the --print-env lines.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

print_env=false
for arg in "$@"; do
	case "$arg" in
	--print-env) print_env=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage
		ks_die "unknown argument: $arg"
		;;
	esac
done

MARKER=.keygate-installed
# Computed once: the venv key runs the interpreter, which costs ~0.1 s through a pyenv shim.
VENV_DIR="$(ks_venv_dir)"

install_venv() {
	local dir=$VENV_DIR
	[[ -f $dir/$MARKER ]] && return 0

	ks_need "$KEYGATE_PYTHON"
	ks_lock "$KEYGATE_CACHE/.${dir##*/}.lock"
	if [[ -f $dir/$MARKER ]]; then
		exec {KS_LOCK_FD}>&-
		return 0
	fi

	ks_log "creating Python venv $dir (takes about a minute on a cold machine)"
	rm -rf "$dir" # leftovers of an interrupted install
	# venvs are not relocatable (absolute paths in scripts), so build in place, under the lock.
	"$KEYGATE_PYTHON" -m venv "$dir" >&2 || ks_die "$KEYGATE_PYTHON -m venv $dir failed (python3-venv missing?)"
	# pip writes progress to stdout; stdout is reserved for --print-env.
	PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
		"$dir/bin/python" -m pip install --progress-bar off \
		-r "$KEYGATE_STACK_SCRIPTS/requirements.txt" >&2 ||
		ks_die "pip install -r $KEYGATE_STACK_SCRIPTS/requirements.txt failed (see output above)"
	"$dir/bin/python" -m pip check >&2 || ks_die "pip check found conflicting packages in $dir"
	"$dir/bin/python" -c "import moto.moto_server.werkzeug_app" >&2 || ks_die "moto (server extra) missing from $dir after pip install"

	printf 'requirements sha256 key: %s\n' "${dir##*/venv-}" >"$dir/$MARKER"
	exec {KS_LOCK_FD}>&-
	ks_log "Python venv ready: $dir"
}

# node_ok: node >= NODE_MIN_MAJOR and npm are on PATH (else say why on stderr).
node_ok() {
	local major
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		ks_warn "node and npm not found: the interop verifiers (aws-jwt-verify) are not installed"
		return 1
	fi
	major="$(node -p 'process.versions.node.split(".")[0]')" || return 1
	if ((major < NODE_MIN_MAJOR)); then
		ks_warn "node $major is older than $NODE_MIN_MAJOR: the interop verifiers are not installed"
		return 1
	fi
}

install_node_modules() {
	local dir=$1 tmp
	[[ -f $dir/$MARKER ]] && return 0

	ks_lock "$KEYGATE_CACHE/.${dir##*/}.lock"
	if [[ -f $dir/$MARKER ]]; then
		exec {KS_LOCK_FD}>&-
		return 0
	fi

	ks_log "installing the interop verifiers (npm ci) into $dir"
	rm -rf "$dir" "$dir.tmp" # leftovers of an interrupted install
	tmp="$dir.tmp"
	mkdir -p "$tmp"
	cp "$KEYGATE_ROOT/infra/test/interop/package.json" "$KEYGATE_ROOT/infra/test/interop/package-lock.json" "$tmp/"
	# npm ci installs exactly the lock file (and fails if package.json disagrees with it).
	# --ignore-scripts: nothing from the registry runs at install time. The npm cache lives in
	# our cache too, so a warm machine reinstalls offline after a pin change it has seen.
	# npm prints progress on stdout, which is reserved for --print-env.
	(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
		--cache "$KEYGATE_CACHE/npm") >&2 ||
		ks_die "npm ci in $tmp failed (see output above)"
	NODE_PATH="$tmp/node_modules" node -e 'require("aws-jwt-verify")' >&2 ||
		ks_die "aws-jwt-verify does not load from $tmp/node_modules"
	mv "$tmp" "$dir"
	printf 'package-lock sha256 key: %s\n' "${dir##*/node-}" >"$dir/$MARKER"
	exec {KS_LOCK_FD}>&-
	ks_log "interop verifiers ready: $dir/node_modules"
}

install_venv
NODE_DIR=''
if node_ok; then
	NODE_DIR="$(ks_node_dir)"
	install_node_modules "$NODE_DIR"
fi

if $print_env; then
	printf 'KEYGATE_VENV=%q\n' "$VENV_DIR"
	[[ -z $NODE_DIR ]] || printf 'KEYGATE_NODE_MODULES=%q\n' "$NODE_DIR/node_modules"
fi
