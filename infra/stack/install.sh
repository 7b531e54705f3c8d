#!/usr/bin/env bash
# Installs the local-stack emulators and tools into $KEYGATE_CACHE, idempotently:
#   - DynamoDB Local (Maven Central) -> $KEYGATE_CACHE/dynamodb-local-<version>/
#       lib/     the jars (classpath lib/*)
#       native/  libsqlite4java-linux-<arch>.so, the name sqlite4java looks for
#   - a Python venv with requirements.txt -> $KEYGATE_CACHE/venv-<hash>/
#   - the interop verifiers' node_modules (infra/interop/package-lock.json, `npm ci`)
#       -> $KEYGATE_CACHE/node-<hash>/node_modules; skipped with a warning when node >= 20 and
#       npm are missing (only the interop test needs them, and it fails without them)
# Each part writes a marker file only after it fully succeeded, so an interrupted install is
# redone from scratch next time, and a complete one is skipped in well under a second.
# flock serialises concurrent runs (e.g. `make run` and `make test` started together).
#
# Usage: install.sh [--print-env]
#   --print-env  after installing, print eval-able KEYGATE_VENV=..., KEYGATE_DDB_DIR=... and
#                (when node is there) KEYGATE_NODE_MODULES=... lines
# Progress messages go to stderr; stdout carries only the --print-env lines.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

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
DDB_DIR="$(ks_ddb_dir)"
VENV_DIR="$(ks_venv_dir)"

install_dynamodb_local() {
	local dir=$DDB_DIR arch so jar_entry out
	[[ -f $dir/$MARKER ]] && return 0

	ks_need java mvn
	ks_lock "$KEYGATE_CACHE/.dynamodb-local.lock"
	# Another process may have finished the install while we waited for the lock.
	if [[ -f $dir/$MARKER ]]; then
		exec {KS_LOCK_FD}>&-
		return 0
	fi

	ks_log "installing DynamoDB Local $DYNAMODB_LOCAL_VERSION into $dir"
	rm -rf "$dir" # leftovers of an interrupted install
	mkdir -p "$dir/lib" "$dir/native"

	# A private Maven repo inside the cache: no dependence on ~/.m2 or a user settings.xml
	# mirror, and a bare CI machine fills it from Maven Central. -B: no prompts, no progress.
	# -DexcludeTypes: the Windows/macOS natives DynamoDBLocal drags in are of no use here.
	# Output goes to a log shown only on failure: with -q there is nothing useful on success,
	# and Debian's Maven 3.8 still emits bare colour-reset escapes even with -B.
	if ! mvn -B -q -f "$KEYGATE_STACK_SCRIPTS/pom.xml" \
		-Dmaven.repo.local="$KEYGATE_CACHE/m2" \
		-Ddynamodb.local.version="$DYNAMODB_LOCAL_VERSION" \
		-Dsqlite4java.version="$SQLITE4JAVA_VERSION" \
		-Dmaven.dependency.plugin.version="$MAVEN_DEPENDENCY_PLUGIN_VERSION" \
		dependency:copy-dependencies \
		-DincludeScope=runtime -DexcludeTypes=dll,dylib \
		-DoutputDirectory="$dir/lib" >"$KEYGATE_CACHE/mvn.log" 2>&1; then
		sed 's/\x1b\[[0-9;]*m//g' "$KEYGATE_CACHE/mvn.log" >&2
		ks_die "mvn could not resolve DynamoDB Local $DYNAMODB_LOCAL_VERSION (output above, also in $KEYGATE_CACHE/mvn.log)"
	fi

	[[ -f $dir/lib/DynamoDBLocal-$DYNAMODB_LOCAL_VERSION.jar ]] ||
		ks_die "mvn finished but DynamoDBLocal-$DYNAMODB_LOCAL_VERSION.jar is missing in $dir/lib"

	# sqlite4java loads "sqlite4java-linux-<arch>-<version>" or "sqlite4java-linux-<arch>" from
	# java.library.path; Maven names the file libsqlite4java-linux-<arch>-<version>.so. Install it
	# under the unversioned name, the one the official DynamoDB Local tarball ships.
	arch="$(ks_sqlite4java_arch)"
	so="$dir/native/libsqlite4java-linux-$arch.so"
	if [[ -f $dir/lib/libsqlite4java-linux-$arch-$SQLITE4JAVA_VERSION.so ]]; then
		cp "$dir/lib/libsqlite4java-linux-$arch-$SQLITE4JAVA_VERSION.so" "$so"
	else
		# No Maven artifact for this arch (linux-aarch64): DynamoDB Local >= 1.24 bundles the
		# natives in its jar under .../sqlite/native/Linux/<uname -m>/libsqlite4java.so.
		case "$arch" in
		amd64) jar_entry=x86_64 ;;
		*) jar_entry=$arch ;;
		esac
		jar_entry="software/amazon/dynamodb/services/local/shared/access/sqlite/native/Linux/$jar_entry/libsqlite4java.so"
		ks_log "no Maven artifact for libsqlite4java-linux-$arch; extracting it from the DynamoDBLocal jar"
		# python3 is needed for the venv anyway, so it is a safer bet than unzip on a bare box.
		"$KEYGATE_PYTHON" - "$dir/lib/DynamoDBLocal-$DYNAMODB_LOCAL_VERSION.jar" "$jar_entry" "$so" <<'PY' ||
import shutil, sys, zipfile
jar, entry, dest = sys.argv[1:]
with zipfile.ZipFile(jar) as z, z.open(entry) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY
			ks_die "could not extract $jar_entry from the DynamoDBLocal jar"
	fi
	# The versioned copies in lib/ would only confuse a later look at the directory.
	rm -f "$dir"/lib/*.so

	# Smoke test: the main class exists and the JVM can start it.
	out="$(java -cp "$dir/lib/*" "$KS_DDB_MAIN_CLASS" -version 2>&1)" ||
		ks_die "DynamoDB Local does not start: $out"
	[[ $out == *"$DYNAMODB_LOCAL_VERSION"* ]] ||
		ks_warn "DynamoDB Local -version printed '$out', expected $DYNAMODB_LOCAL_VERSION"

	printf 'dynamodb-local %s\nsqlite4java %s linux-%s\n' \
		"$DYNAMODB_LOCAL_VERSION" "$SQLITE4JAVA_VERSION" "$arch" >"$dir/$MARKER"
	exec {KS_LOCK_FD}>&-
	ks_log "DynamoDB Local $DYNAMODB_LOCAL_VERSION installed"
}

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
	[[ -x $dir/bin/moto_server ]] || ks_die "moto_server missing from $dir/bin after pip install"

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
	cp "$KEYGATE_ROOT/infra/interop/package.json" "$KEYGATE_ROOT/infra/interop/package-lock.json" "$tmp/"
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

install_dynamodb_local
install_venv
NODE_DIR=''
if node_ok; then
	NODE_DIR="$(ks_node_dir)"
	install_node_modules "$NODE_DIR"
fi

if $print_env; then
	printf 'KEYGATE_VENV=%q\n' "$VENV_DIR"
	printf 'KEYGATE_DDB_DIR=%q\n' "$DDB_DIR"
	[[ -z $NODE_DIR ]] || printf 'KEYGATE_NODE_MODULES=%q\n' "$NODE_DIR/node_modules"
fi
