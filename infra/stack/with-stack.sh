#!/usr/bin/env bash
# Runs a command against a fresh local stack and always tears the stack down afterwards.
#
# Usage: with-stack.sh NAME DDB_PORT SM_PORT -- CMD [ARGS...]
#
# up.sh NAME DDB_PORT SM_PORT, then CMD runs with KEYGATE_DYNAMODB_ENDPOINT and
# KEYGATE_SECRETS_ENDPOINT exported; down.sh NAME runs on every exit path (normal end, failure,
# Ctrl-C, SIGTERM, SIGHUP). The exit status is CMD's, 128+signal when interrupted, or up.sh's
# when the stack did not come up. The stack NAME belongs to this run: if it was already up
# beforehand, it is stopped at the end too.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

if [[ $# -lt 5 || $4 != -- ]]; then
	usage
	ks_die "expected: NAME DDB_PORT SM_PORT -- CMD [ARGS...]"
fi
NAME=$1 DDB_PORT=$2 SM_PORT=$3
shift 4
CMD_DESC="$*"

child=''
cleaned=false
# The two handlers below only run from traps, which shellcheck 0.9 reports as unreachable code.
# shellcheck disable=SC2317
cleanup() {
	$cleaned && return 0
	cleaned=true
	# Teardown must not be cut short by an impatient second Ctrl-C; down.sh inherits the
	# ignored signals and is bounded (~10 s worst case).
	trap '' INT TERM HUP
	# Only reached with CMD still running when we exit on a signal.
	if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	"$KEYGATE_STACK_SCRIPTS/down.sh" "$NAME" || ks_warn "down.sh $NAME failed; check with: pgrep -af 'DynamoDBLocal|moto_server'"
}
# shellcheck disable=SC2317
on_signal() {
	trap '' INT TERM HUP # see cleanup
	ks_log "interrupted; stopping '$CMD_DESC' and stack '$NAME'"
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# eval of an empty string succeeds, so keep up.sh's status separate from the eval.
up_rc=0
env_lines="$("$KEYGATE_STACK_SCRIPTS/up.sh" "$NAME" "$DDB_PORT" "$SM_PORT")" || up_rc=$?
((up_rc == 0)) || exit "$up_rc"
eval "$env_lines"
export KEYGATE_DYNAMODB_ENDPOINT KEYGATE_SECRETS_ENDPOINT

# CMD runs in the background and we `wait` for it, because bash only runs traps between
# commands: with CMD in the foreground a SIGTERM sent to this script alone (CI timeout, kill)
# would wait for CMD to finish by itself. `<&0` keeps CMD's stdin (bash gives background jobs
# /dev/null otherwise). Background jobs of a script ignore SIGINT, so on Ctrl-C the trap above
# forwards SIGTERM to CMD (cleanup) instead.
"$@" <&0 &
child=$!
status=0
wait "$child" || status=$?
child=''
exit "$status"
