#!/usr/bin/env bash
# Installs the local-stack emulators and tools into $KEYGATE_CACHE, idempotently:
#   - a Python venv with requirements.txt -> $KEYGATE_CACHE/venv-<hash>/ (moto serves both
#     DynamoDB and Secrets Manager; see infra/local/stack/moto_serialised.py)
#   - the interop verifiers' node_modules (infra/test/interop/package-lock.json, `npm ci`)
#       -> $KEYGATE_CACHE/node-<hash>/node_modules; skipped with a warning when node >= 20 and
#       npm are missing (only the interop test needs them, and it fails without them)
#   - with --lint, also make lint's scanner: a venv of its own with lint-requirements.txt (checkov
#       and its pinned closure, which conflicts with the stack venv's) -> $KEYGATE_CACHE/lint-venv-<hash>/
#   - with --sdk, also the client SDKs' test toolchains (infra/test/sdk): a venv with
#       sdk/python/requirements-dev.txt -> $KEYGATE_CACHE/sdk-venv-<hash>/ and, when node >= 20 is
#       there, sdk/typescript's node_modules (npm ci) -> $KEYGATE_CACHE/sdk-node-<hash>/node_modules
# Each part writes a marker file only after it fully succeeded, so an interrupted install is
# redone from scratch next time, and a complete one is skipped in well under a second.
# flock serialises concurrent runs (e.g. `make run` and `make test` started together).
#
# Usage: install.sh [--lint] [--sdk] [--print-env]
#   --lint       also install the scanner venv (make lint)
#   --sdk        also install the SDK toolchains (the SDK tests of make test)
#   --print-env  after installing, print eval-able KEYGATE_VENV=..., (when node is there)
#                KEYGATE_NODE_MODULES=..., (with --lint) KEYGATE_LINT_VENV=... and (with --sdk)
#                KEYGATE_SDK_VENV=... and (when node is there) KEYGATE_SDK_NODE_MODULES=... lines
# Progress messages go to stderr; stdout carries only the --print-env lines.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

print_env=false
lint=false
sdk=false
for arg in "$@"; do
	case "$arg" in
	--print-env) print_env=true ;;
	--lint) lint=true ;;
	--sdk) sdk=true ;;
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

# install_python_venv DIR WHAT REQUIREMENTS VERIFY [PIP ARGS...]: a venv with REQUIREMENTS (a file
# in this folder) in DIR, proven by pip check and by the function VERIFY DIR, then marked
# complete; skipped at once when the marker is there.
install_python_venv() {
	local dir=$1 what=$2 reqs=$3 verify=$4
	shift 4
	[[ -f $dir/$MARKER ]] && return 0

	ks_need "$KEYGATE_PYTHON"
	ks_lock "$KEYGATE_CACHE/.${dir##*/}.lock"
	if [[ -f $dir/$MARKER ]]; then
		exec {KS_LOCK_FD}>&-
		return 0
	fi

	ks_log "creating the $what $dir (takes about a minute on a cold machine)"
	rm -rf "$dir" # leftovers of an interrupted install
	# venvs are not relocatable (absolute paths in scripts), so build in place, under the lock.
	"$KEYGATE_PYTHON" -m venv "$dir" >&2 || ks_die "$KEYGATE_PYTHON -m venv $dir failed (python3-venv missing?)"
	# pip writes progress to stdout; stdout is reserved for --print-env.
	PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
		"$dir/bin/python" -m pip install --progress-bar off "$@" \
		-r "$KEYGATE_STACK_SCRIPTS/$reqs" >&2 ||
		ks_die "pip install -r $KEYGATE_STACK_SCRIPTS/$reqs failed (see output above)"
	"$dir/bin/python" -m pip check >&2 || ks_die "pip check found conflicting packages in $dir ($reqs)"
	"$verify" "$dir"

	printf '%s sha256 key: %s\n' "${reqs%.txt}" "${dir##*-}" >"$dir/$MARKER"
	exec {KS_LOCK_FD}>&-
	ks_log "$what ready: $dir"
}

verify_stack_venv() {
	"$1/bin/python" -c "import moto.moto_server.werkzeug_app" >&2 || ks_die "moto (server extra) missing from $1 after pip install"
}

verify_lint_venv() {
	"$1/bin/checkov" --version >&2 || ks_die "checkov does not run from $1"
}

# The scanner venv is keyed like the stack venv: by its requirement file and the interpreter.
lint_venv_dir() {
	local pyid key
	pyid="$("$KEYGATE_PYTHON" -c 'import sys, platform; print(sys.implementation.name, platform.python_version(), platform.machine())')" ||
		ks_die "cannot run $KEYGATE_PYTHON"
	key="$({
		cat "$KEYGATE_STACK_SCRIPTS/lint-requirements.txt"
		printf '%s\n' "$pyid"
	} | sha256sum | cut -c1-12)"
	printf '%s/lint-venv-%s\n' "$KEYGATE_CACHE" "$key"
}

# sdk_dir KIND FILE...: $KEYGATE_CACHE/sdk-KIND-<hash of FILEs and the runtime>, KIND venv
# (keyed by the interpreter too) or node (by node's major version), as the other installs.
sdk_dir() {
	local kind=$1 runtime key
	shift
	if [[ $kind == venv ]]; then
		runtime="$("$KEYGATE_PYTHON" -c 'import sys, platform; print(sys.implementation.name, platform.python_version(), platform.machine())')" ||
			ks_die "cannot run $KEYGATE_PYTHON"
	else
		runtime="node $(node -p 'process.versions.node.split(".")[0]')" || ks_die "cannot run node"
	fi
	key="$({
		cat "$@"
		printf '%s\n' "$runtime"
	} | sha256sum | cut -c1-12)"
	printf '%s/sdk-%s-%s\n' "$KEYGATE_CACHE" "$kind" "$key"
}

# install_sdk_tools VENV_DIR NODE_DIR: the SDKs' test toolchains. The venv gets exactly
# sdk/python/requirements-dev.txt (--no-deps; pip check proves the pins are the whole closure);
# NODE_DIR (empty without node) gets sdk/typescript's lock file (npm ci, no install scripts).
# Same marker, lock and temp-dir conventions as the installs above.
install_sdk_tools() {
	local venv=$1 node=$2 tmp
	if [[ ! -f $venv/$MARKER ]]; then
		ks_need "$KEYGATE_PYTHON"
		ks_lock "$KEYGATE_CACHE/.${venv##*/}.lock"
		if [[ ! -f $venv/$MARKER ]]; then
			ks_log "creating the SDK test venv $venv (httpx, standardwebhooks, pytest, build)"
			rm -rf "$venv"
			"$KEYGATE_PYTHON" -m venv "$venv" >&2 || ks_die "$KEYGATE_PYTHON -m venv $venv failed (python3-venv missing?)"
			PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --progress-bar off --no-deps \
				-r "$KEYGATE_ROOT/sdk/python/requirements-dev.txt" >&2 || ks_die "pip install -r sdk/python/requirements-dev.txt failed (see output above)"
			"$venv/bin/python" -m pip check >&2 || ks_die "pip check: sdk/python/requirements-dev.txt is not a complete, consistent closure"
			printf 'sdk requirements sha256 key: %s\n' "${venv##*/sdk-venv-}" >"$venv/$MARKER"
			ks_log "SDK test venv ready: $venv"
		fi
		exec {KS_LOCK_FD}>&-
	fi
	[[ -z $node || -f $node/$MARKER ]] && return 0
	ks_lock "$KEYGATE_CACHE/.${node##*/}.lock"
	if [[ ! -f $node/$MARKER ]]; then
		ks_log "installing the TypeScript SDK's dev dependencies (npm ci) into $node"
		tmp="$node.tmp"
		rm -rf "$node" "$tmp"
		mkdir -p "$tmp"
		cp "$KEYGATE_ROOT/sdk/typescript/package.json" "$KEYGATE_ROOT/sdk/typescript/package-lock.json" "$tmp/"
		(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error --cache "$KEYGATE_CACHE/npm") >&2 ||
			ks_die "npm ci of sdk/typescript in $tmp failed (see output above)"
		"$tmp/node_modules/.bin/tsc" --version >&2 || ks_die "tsc does not run from $tmp/node_modules"
		mv "$tmp" "$node"
		printf 'sdk package-lock sha256 key: %s\n' "${node##*/sdk-node-}" >"$node/$MARKER"
		ks_log "TypeScript SDK dev dependencies ready: $node/node_modules"
	fi
	exec {KS_LOCK_FD}>&-
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

install_python_venv "$VENV_DIR" "Python venv" requirements.txt verify_stack_venv
NODE_DIR=''
if node_ok; then
	NODE_DIR="$(ks_node_dir)"
	install_node_modules "$NODE_DIR"
fi
LINT_VENV_DIR=''
if $lint; then
	LINT_VENV_DIR="$(lint_venv_dir)"
	# --no-deps: lint-requirements.txt is checkov's whole closure, so nothing unpinned comes in
	# (pip check proves the pins agree).
	install_python_venv "$LINT_VENV_DIR" "scanner venv (checkov)" lint-requirements.txt verify_lint_venv --no-deps
fi

SDK_VENV_DIR='' SDK_NODE_DIR=''
if $sdk; then
	SDK_VENV_DIR="$(sdk_dir venv "$KEYGATE_ROOT/sdk/python/requirements-dev.txt")"
	[[ -z $NODE_DIR ]] || SDK_NODE_DIR="$(sdk_dir node "$KEYGATE_ROOT/sdk/typescript/package.json" "$KEYGATE_ROOT/sdk/typescript/package-lock.json")"
	install_sdk_tools "$SDK_VENV_DIR" "$SDK_NODE_DIR"
fi

if $print_env; then
	printf 'KEYGATE_VENV=%q\n' "$VENV_DIR"
	[[ -z $NODE_DIR ]] || printf 'KEYGATE_NODE_MODULES=%q\n' "$NODE_DIR/node_modules"
	[[ -z $LINT_VENV_DIR ]] || printf 'KEYGATE_LINT_VENV=%q\n' "$LINT_VENV_DIR"
	[[ -z $SDK_VENV_DIR ]] || printf 'KEYGATE_SDK_VENV=%q\n' "$SDK_VENV_DIR"
	[[ -z $SDK_NODE_DIR ]] || printf 'KEYGATE_SDK_NODE_MODULES=%q\n' "$SDK_NODE_DIR/node_modules"
fi
