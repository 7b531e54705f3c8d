#!/usr/bin/env bash
# Starts a named local stack: moto servers for DynamoDB and Secrets Manager, in the background.
#
# Usage: up.sh NAME DDB_PORT SM_PORT
#
# Runs install.sh first. State lives in ${KEYGATE_STATE_DIR:-<repo>/.stack}/NAME/: pid and port
# files plus dynamodb.log and moto.log. Waits until each emulator answers HTTP (at most
# ${KEYGATE_STACK_TIMEOUT:-60} s each). Idempotent: emulators of NAME that already run healthy on
# the same ports are left alone. On any failure (port taken, emulator died or never answered) it
# names the service, port and log, stops whatever this run started and exits non-zero.
#
# On success stdout carries exactly two eval-able lines:
#   KEYGATE_DYNAMODB_ENDPOINT=http://HOST:DDB_PORT
#   KEYGATE_SECRETS_ENDPOINT=http://HOST:SM_PORT
# (HOST is ${KEYGATE_STACK_HOST:-127.0.0.1}, the one address the emulators listen on.)
# Everything else goes to stderr. Stop with down.sh NAME.
set -euo pipefail
# Job control must be off so a background child is not a process-group leader: then `setsid`
# calls setsid(2) and execs in place instead of forking, and $! is the emulator's own PID
# (python), which is what down.sh must signal.
set +m

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

if [[ $# -ne 3 ]]; then
	usage
	ks_die "expected 3 arguments, got $#"
fi
NAME=$1
ks_check_name "$NAME"
ks_check_port DDB_PORT "$2"
ks_check_port SM_PORT "$3"
[[ $2 != "$3" ]] || ks_die "DDB_PORT and SM_PORT must differ (both are $2)"
declare -A PORT=([dynamodb]=$2 [moto]=$3)
TIMEOUT=${KEYGATE_STACK_TIMEOUT:-60}
[[ $TIMEOUT =~ ^[0-9]+$ ]] || ks_die "KEYGATE_STACK_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

# eval of an empty string succeeds, so check install.sh's status before eval'ing its output.
env_lines="$("$KEYGATE_STACK_SCRIPTS/install.sh" --print-env)" || ks_die "install.sh failed"
eval "$env_lines"
: "${KEYGATE_VENV:?install.sh did not print KEYGATE_VENV}"
ks_need setsid

STATE="$KEYGATE_STATE_DIR/$NAME"
mkdir -p "$STATE"
# One up.sh/down.sh at a time per stack name; other names proceed in parallel.
ks_lock "$STATE/.lock" 180

STARTED=()    # services this run started: the only ones it may stop on failure
SUCCESS=false # set at the very end; the EXIT trap undoes a partial start otherwise

stop_started() {
	local svc pid
	for svc in "${STARTED[@]}"; do
		pid="$(ks_read_pid "$STATE/$svc.pid")"
		ks_svc_markers "$svc" "${PORT[$svc]}"
		ks_stop_pid "$pid" "$(ks_svc_label "$svc")" "${KS_MARKERS[@]}" || true
		rm -f "$STATE/$svc.pid" "$STATE/$svc.port"
	done
	STARTED=()
}
on_exit() {
	$SUCCESS && return 0
	if ((${#STARTED[@]})); then
		ks_log "stack '$NAME' did not come up; stopping what this run started: ${STARTED[*]}"
		stop_started
	fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# fail SVC MESSAGE: the uniform failure report (service, port, log path and its tail).
fail() {
	local svc=$1 msg=$2
	ks_error "$(ks_svc_label "$svc") on port ${PORT[$svc]}: $msg"
	ks_error "log file: $STATE/$svc.log"
	ks_tail_log "$STATE/$svc.log"
	exit 1
}

# healthy SVC PID: PID listens on SVC's port and answers HTTP there.
healthy() {
	local svc=$1 pid=$2
	ks_port_owned_by "${PORT[$svc]}" "$pid" || return 1
	case "$svc" in
	dynamodb) ks_probe_dynamodb "${PORT[dynamodb]}" ;;
	moto) ks_probe_moto "${PORT[moto]}" ;;
	esac
}

# --- phase 1: decide what to start; check every port before starting anything -----------------
TO_START=()
for svc in "${KS_SERVICES[@]}"; do
	label="$(ks_svc_label "$svc")"
	pid="$(ks_read_pid "$STATE/$svc.pid")"
	ks_svc_markers "$svc"
	if ks_pid_matches "$pid" "${KS_MARKERS[@]}"; then
		old_port="$(ks_read_pid "$STATE/$svc.port")"
		if [[ $old_port != "${PORT[$svc]}" ]]; then
			ks_die "$label of stack '$NAME' is already running (pid $pid) on port ${old_port:-?}, not ${PORT[$svc]}; run down.sh $NAME first"
		fi
		if healthy "$svc" "$pid"; then
			ks_log "$label of stack '$NAME' already running (pid $pid, port ${PORT[$svc]})"
			continue
		fi
		ks_warn "$label of stack '$NAME' (pid $pid) runs but does not answer on port ${PORT[$svc]}; restarting it"
		ks_svc_markers "$svc" "${PORT[$svc]}"
		ks_stop_pid "$pid" "$label" "${KS_MARKERS[@]}" || ks_die "cannot stop unhealthy $label (pid $pid)"
	fi
	rm -f "$STATE/$svc.pid" "$STATE/$svc.port"
	if ks_port_in_use "${PORT[$svc]}"; then
		ks_error "$label: port ${PORT[$svc]} is already in use by $(ks_port_owner "${PORT[$svc]}")"
		ks_error "not starting stack '$NAME' ($label would have logged to $STATE/$svc.log); free the port or pick another"
		exit 1
	fi
	TO_START+=("$svc")
done

# --- phase 2: start ---------------------------------------------------------------------------
# Both run in their own session (setsid): a Ctrl-C aimed at the caller's foreground job does
# not hit them half-way, a closed terminal does not HUP them, and down.sh can signal the whole
# process group. They run from $STATE so nothing they might write lands in the repo root.
# {KS_LOCK_FD}>&- keeps the stack lock from being inherited (it would stay held forever).
start_dynamodb() {
	# moto's DynamoDB behind infra/local/stack/moto_serialised.py: one request at a time (conditional
	# writes atomic, as on DynamoDB) and item-level transaction rollback. Every stack starts
	# empty (in memory) and leaves nothing on disk. The script path is given as written in
	# ks_svc_markers so /proc finds it; -p must stay last.
	(cd "$STATE" && export PYTHONUNBUFFERED=1 && exec setsid "$KEYGATE_VENV/bin/python" \
		"$KEYGATE_ROOT/infra/local/stack/moto_serialised.py" -H "$KEYGATE_STACK_HOST" -p "${PORT[dynamodb]}") \
		</dev/null >"$STATE/dynamodb.log" 2>&1 {KS_LOCK_FD}>&- &
	echo "$!" >"$STATE/dynamodb.pid"
}
start_moto() {
	# PYTHONUNBUFFERED: so the log is current when we show its tail after a failure.
	# The same wrapper: one request at a time also makes a stage move (UpdateSecretVersionStage:
	# moto removes AWSCURRENT from one version, then adds it to the other) atomic for readers,
	# as on AWS. Under moto_server's threads a cold keyring could read "no AWSCURRENT" mid-move.
	(cd "$STATE" && export PYTHONUNBUFFERED=1 && exec setsid "$KEYGATE_VENV/bin/python" \
		"$KEYGATE_ROOT/infra/local/stack/moto_serialised.py" -H "$KEYGATE_STACK_HOST" -p "${PORT[moto]}") \
		</dev/null >"$STATE/moto.log" 2>&1 {KS_LOCK_FD}>&- &
	echo "$!" >"$STATE/moto.pid"
}

for svc in "${TO_START[@]}"; do
	ks_log "starting $(ks_svc_label "$svc") for stack '$NAME' on port ${PORT[$svc]} (log: $STATE/$svc.log)"
	STARTED+=("$svc")
	"start_$svc"
	echo "${PORT[$svc]}" >"$STATE/$svc.port"
done

# --- phase 3: wait until each answers -----------------------------------------------------------
# ready SVC: 0 = answers, 1 = not yet, 2 = its process is gone (no point waiting). A process
# that exists but does not look like the emulator yet is still starting (ks_startup_state).
ready() {
	local svc=$1 pid rc=0
	pid="$(ks_read_pid "$STATE/$svc.pid")"
	ks_svc_markers "$svc" "${PORT[$svc]}"
	ks_startup_state "$pid" "${KS_MARKERS[@]}" || rc=$?
	((rc == 0)) || return "$rc"
	healthy "$svc" "$pid"
}
for svc in "${TO_START[@]}"; do
	rc=0
	ks_wait_until "$TIMEOUT" ready "$svc" || rc=$?
	case $rc in
	0) ks_log "$(ks_svc_label "$svc") ready (pid $(ks_read_pid "$STATE/$svc.pid"), port ${PORT[$svc]})" ;;
	2) fail "$svc" "process exited during startup" ;;
	*) fail "$svc" "no HTTP answer within ${TIMEOUT}s" ;;
	esac
done

SUCCESS=true
printf 'KEYGATE_DYNAMODB_ENDPOINT=http://%s:%s\n' "$KEYGATE_STACK_HOST" "${PORT[dynamodb]}"
printf 'KEYGATE_SECRETS_ENDPOINT=http://%s:%s\n' "$KEYGATE_STACK_HOST" "${PORT[moto]}"
