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

child='' # PID (and process-group id) of CMD while it runs in the background

# stop_cmd SIGNAL: forward SIGNAL to CMD's whole process group (so e.g. the test binaries that
# `go test` runs get it too), give the group leader 10 s, then SIGKILL whatever is left of the
# group: nothing CMD started may keep talking to a stack that is going away.
# This and the two handlers below only run from traps, which shellcheck 0.9 reports as
# unreachable code.
# shellcheck disable=SC2317
stop_cmd() {
	local sig=$1 i st
	kill "-$sig" -- "-$child" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		# CMD is our child, so once it exits it stays a zombie (state Z) until we wait for it.
		st="$(cat "/proc/$child/stat" 2>/dev/null)" || break
		st=${st##*) }
		[[ ${st%% *} == Z ]] && break
		sleep 0.1
	done
	kill -KILL -- "-$child" 2>/dev/null || true
	wait "$child" 2>/dev/null || true
	child=''
}

# shellcheck disable=SC2317
cleanup() {
	# Teardown must not be cut short by an impatient second Ctrl-C; down.sh inherits the
	# ignored signals and is bounded (~10 s worst case).
	# A closed stdout (make run | tee, then Ctrl-C) must not kill us with SIGPIPE half-way
	# through the teardown either.
	trap '' INT TERM HUP PIPE
	[[ -z $child ]] || stop_cmd TERM
	"$KEYGATE_STACK_SCRIPTS/down.sh" "$NAME" || ks_warn "down.sh $NAME failed; check with: pgrep -af moto_serialised.py"
}
# shellcheck disable=SC2317
on_signal() {
	local code=$1 sig=$2
	trap '' INT TERM HUP # see cleanup
	ks_log "interrupted by SIG$sig; stopping '$CMD_DESC' and stack '$NAME'"
	[[ -z $child ]] || stop_cmd "$sig"
	exit "$code"
}
trap cleanup EXIT
trap 'on_signal 130 INT' INT
trap 'on_signal 143 TERM' TERM
trap 'on_signal 129 HUP' HUP

# eval of an empty string succeeds, so keep up.sh's status separate from the eval.
up_rc=0
env_lines="$("$KEYGATE_STACK_SCRIPTS/up.sh" "$NAME" "$DDB_PORT" "$SM_PORT")" || up_rc=$?
((up_rc == 0)) || exit "$up_rc"
eval "$env_lines"
export KEYGATE_DYNAMODB_ENDPOINT KEYGATE_SECRETS_ENDPOINT

status=0
if [[ -t 0 ]]; then
	# Interactive (stdin is a terminal): run CMD in the foreground so it keeps the terminal
	# (it may read it, and a Ctrl-C reaches CMD and all its children directly, as usual). bash
	# runs our INT trap once CMD has exited.
	"$@" || status=$?
else
	# Non-interactive (make test in CI, pipes): run CMD as a background job in its own process
	# group (set -m) and `wait` for it. Two reasons: bash runs traps only between commands, so
	# with CMD in the foreground a SIGTERM sent to this script alone (CI timeout, kill) would
	# first wait for CMD to finish by itself; and a group of its own lets stop_cmd signal CMD
	# and everything it started. With job control on, the job does not get SIGINT ignored and
	# `<&0` keeps our stdin (bash gives background jobs /dev/null otherwise).
	set -m
	"$@" <&0 &
	child=$!
	set +m
	wait "$child" || status=$?
	child=''
fi
exit "$status"
