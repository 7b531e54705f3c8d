#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the console's browser tests, installing
# Debian's `chromium` package first where it is missing and we are root (CI machines start bare).
# Anything else is an error that says how to get one. Progress goes to stderr.
set -euo pipefail
for c in "${KEYGATE_CHROMIUM:-}" chromium chromium-browser google-chrome; do
	[[ -n $c ]] || continue
	if p="$(command -v "$c" 2>/dev/null)"; then
		printf '%s\n' "$p"
		exit 0
	fi
done
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "[keygate] no Chromium found: install Debian's chromium package (or set KEYGATE_CHROMIUM to a Chrome/Chromium binary)" >&2
	exit 1
fi
echo "[keygate] installing Debian's chromium (once per machine)" >&2
# flock: two test binaries may ask at once.
exec 9>/tmp/keygate-chromium-install.lock
flock -w 600 9
if ! command -v chromium >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends chromium >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends chromium >&2; }
fi
command -v chromium
