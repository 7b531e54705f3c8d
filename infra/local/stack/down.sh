#!/usr/bin/env bash
# Stops a local stack started by up.sh: SIGTERM to each emulator's process group, SIGKILL after
# ~5 s, then removes the pid/port files (logs are kept for post-mortems).
#
# Usage: down.sh NAME
#
# Succeeds when nothing was running. Only processes whose command line still looks like our
# emulator are signalled, so a stale pid file never gets an unrelated (recycled) PID killed.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

if [[ $# -ne 1 ]]; then
	usage
	ks_die "expected 1 argument, got $#"
fi
NAME=$1
ks_check_name "$NAME"
STATE="$KEYGATE_STATE_DIR/$NAME"

if [[ ! -d $STATE ]]; then
	ks_log "stack '$NAME' is not running (no $STATE)"
	exit 0
fi

# Wait for a concurrent up.sh of the same stack to finish rather than racing it.
ks_lock "$STATE/.lock" 180

rc=0
stopped=0
# Reverse start order; the two are independent anyway.
for svc in moto dynamodb; do
	pid="$(ks_read_pid "$STATE/$svc.pid")"
	port="$(ks_read_pid "$STATE/$svc.port")"
	ks_svc_markers "$svc" "$port"
	if ks_pid_matches "$pid" "${KS_MARKERS[@]}"; then
		if ks_stop_pid "$pid" "$(ks_svc_label "$svc") of stack '$NAME'" "${KS_MARKERS[@]}"; then
			stopped=$((stopped + 1))
		else
			rc=1
		fi
	elif [[ -n $pid ]]; then
		ks_log "$(ks_svc_label "$svc") of stack '$NAME' was not running (stale pid $pid)"
	fi
	rm -f "$STATE/$svc.pid" "$STATE/$svc.port"
done

((stopped)) || ks_log "stack '$NAME': nothing was running"
exit "$rc"
