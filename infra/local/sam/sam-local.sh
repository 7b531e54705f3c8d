#!/usr/bin/env bash
# keygate on the real SAM CLI: `sam build` + `sam local start-api` on a Docker engine, against the
# same moto emulators, tables and secrets `make run` uses.
#
# Usage: sam-local.sh NAME DDB_PORT SM_PORT API_PORT [-- CMD [ARGS...]]
#
#   without CMD  serve on 127.0.0.1:API_PORT, print a demo key and curls, run until Ctrl-C
#   with CMD     run CMD once the API answers (exported: KEYGATE_E2E_API_URL, KEYGATE_E2E_TARGET,
#                KEYGATE_DYNAMODB_ENDPOINT, KEYGATE_SECRETS_ENDPOINT), then stop; exit with CMD's
#                status
#
# Steps: a Docker engine (infra/local/sam/engine.sh: the user's, else a private dockerd), the
# Lambda base image (base-image.sh: pulled, else a stand-in), the emulators on the address
# containers reach (the Docker bridge's gateway on Linux), `sam build` for the engine's
# architecture, provisioning and the local template copy (infra/cmd/samlocal), then
# `sam local start-api --warm-containers EAGER`. Every exit path removes the containers SAM
# started, stops the emulators and, if this run started it, dockerd.
# KEYGATE_SAM_PARAMS="K=V ..." overrides template parameters (the e2e tier passes its own).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
KS_TAG=keygate-sam
# shellcheck source=../stack/lib.sh
. "$here/../stack/lib.sh"
cd "$KEYGATE_ROOT"

[[ $# -ge 4 ]] || ks_die "usage: sam-local.sh NAME DDB_PORT SM_PORT API_PORT [-- CMD...]"
NAME=$1 DDB_PORT=$2 SM_PORT=$3 API_PORT=$4
shift 4
CMD=()
if [[ $# -gt 0 ]]; then
	[[ $1 == -- ]] || ks_die "expected -- before the command, got '$1'"
	shift
	CMD=("$@")
fi
ks_check_name "$NAME"
BUILD_DIR="$KEYGATE_ROOT/.aws-sam/sam-$NAME"
STATE="$KEYGATE_STATE_DIR/$NAME"
mkdir -p "$STATE"
started_at=$(date +%s.%N)

sam_pid='' engine_started=0 image=''
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	trap '' INT TERM HUP PIPE
	if [[ -n $sam_pid ]]; then
		kill -TERM "$sam_pid" 2>/dev/null || true
		wait "$sam_pid" 2>/dev/null || true
	fi
	if [[ -n $image && -n ${DOCKER:-} ]]; then
		# SAM leaves its warm containers behind when it is stopped: remove every container of the
		# image it runs functions on.
		ids="$("$DOCKER" ps -aq --filter "ancestor=$image" 2>/dev/null || true)"
		if [[ -n $ids ]]; then
			ks_log "removing $(wc -w <<<"$ids") function container(s)"
			# shellcheck disable=SC2086
			"$DOCKER" rm -f $ids >/dev/null 2>&1 || true
		fi
	fi
	"$KEYGATE_STACK_SCRIPTS/down.sh" "$NAME" >/dev/null 2>&1 || true
	if [[ $engine_started == 1 ]]; then bash "$here/engine.sh" down || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# eval of a failed command substitution succeeds, so each status is checked before its eval.
engine_env="$(bash "$here/engine.sh" up)" || exit 1 # engine.sh said what is missing
eval "$engine_env"
export DOCKER_HOST
engine_started=${KEYGATE_DOCKER_STARTED:-0}
DOCKER="$(bash "$here/engine.sh" cli)"

case "$(uname -m)" in
x86_64 | amd64) arch=x86_64 goarch=amd64 ;;
aarch64 | arm64) arch=arm64 goarch=arm64 ;;
*) ks_die "unsupported host architecture $(uname -m)" ;;
esac
base="$(bash "$here/base-image.sh" "$arch")"
image="public.ecr.aws/lambda/provided:al2023-rapid-$arch"

# Where containers reach the host: on Linux the default bridge's gateway address (the
# emulators listen there and nowhere else); with Docker Desktop, host.docker.internal.
if [[ $(uname -s) == Linux ]] && ip -4 -o addr show docker0 >/dev/null 2>&1; then
	host_ip="$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1 | head -n 1)"
	container_host=$host_ip
else
	host_ip=127.0.0.1
	container_host=host.docker.internal
fi
[[ -n $host_ip ]] || ks_die "cannot find the Docker bridge's address (ip addr show docker0)"

export KEYGATE_STACK_HOST=$host_ip
stack_env="$("$KEYGATE_STACK_SCRIPTS/up.sh" "$NAME" "$DDB_PORT" "$SM_PORT")" || ks_die "the emulators did not start"
eval "$stack_env"
export KEYGATE_DYNAMODB_ENDPOINT KEYGATE_SECRETS_ENDPOINT
# Host tools (authctl) use the SDK's standard endpoint settings, as the functions do; API
# Gateway's control plane (API keys, usage plans) is the Secrets Manager emulator's moto, which
# serves every service (sam local enforces no usage plan: see docs/sam-local.md).
export AWS_ENDPOINT_URL_DYNAMODB=$KEYGATE_DYNAMODB_ENDPOINT AWS_ENDPOINT_URL_SECRETS_MANAGER=$KEYGATE_SECRETS_ENDPOINT
export AWS_ENDPOINT_URL_API_GATEWAY=$KEYGATE_SECRETS_ENDPOINT
tools_env="$(bash "$KEYGATE_STACK_SCRIPTS/install.sh" --print-env)" || ks_die "installing the tools failed"
eval "$tools_env"
sam="$KEYGATE_VENV/bin/sam"
export SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
# The functions in their containers get these from SAM; the emulators accept any.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local

params=()
for p in ${KEYGATE_SAM_PARAMS:-}; do params+=(-param "$p"); done

ks_log "sam build ($arch bootstraps) into ${BUILD_DIR#"$KEYGATE_ROOT"/}"
make -s build-local
LAMBDA_GOARCH=$goarch "$sam" build --template template.yaml --build-dir "$BUILD_DIR" >"$STATE/sam-build.log" 2>&1 || {
	tail -n 30 "$STATE/sam-build.log" >&2
	ks_die "sam build failed (log: $STATE/sam-build.log)"
}
go build -o .build/tools/samlocal ./infra/cmd/samlocal
go build -o .build/tools/authctl ./infra/cmd/authctl
.build/tools/samlocal prepare -built "$BUILD_DIR/template.yaml" -arch "$arch" "${params[@]}" \
	-container-dynamodb "http://$container_host:$DDB_PORT" -container-secrets "http://$container_host:$SM_PORT"

overrides=()
[[ -z ${KEYGATE_SAM_PARAMS:-} ]] || overrides=(--parameter-overrides "$KEYGATE_SAM_PARAMS")
ks_log "sam local start-api on 127.0.0.1:$API_PORT (base image: $base; log: $STATE/sam-local.log)"
# Its own session: a Ctrl-C reaches this script, whose cleanup stops SAM and then its containers.
setsid "$sam" local start-api --template "$BUILD_DIR/local.yaml" --env-vars "$BUILD_DIR/env.json" \
	--host 127.0.0.1 --port "$API_PORT" --warm-containers EAGER --skip-pull-image "${overrides[@]}" \
	</dev/null >"$STATE/sam-local.log" 2>&1 &
sam_pid=$!
base_url="http://127.0.0.1:$API_PORT"
for ((i = 0; i < 600; i++)); do
	curl -fsS -o /dev/null "$base_url/.well-known/jwks.json" 2>/dev/null && break
	if ! kill -0 "$sam_pid" 2>/dev/null; then
		tail -n 40 "$STATE/sam-local.log" >&2
		ks_die "sam local start-api exited (ks_log above: $STATE/sam-local.log)"
	fi
	sleep 0.2
done
curl -fsS -o /dev/null "$base_url/.well-known/jwks.json" || {
	tail -n 40 "$STATE/sam-local.log" >&2
	ks_die "sam local start-api did not answer within 120 s (log: $STATE/sam-local.log)"
}
ks_log "first answer $(awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after start"

if [[ ${#CMD[@]} -gt 0 ]]; then
	export KEYGATE_E2E_API_URL=$base_url KEYGATE_E2E_TARGET=sam-local KEYGATE_SAM=$sam KEYGATE_SAM_BUILD_DIR=$BUILD_DIR
	rc=0
	"${CMD[@]}" || rc=$?
	exit "$rc"
fi

demo="$STATE/demo-key"
.build/tools/authctl bootstrap -name "demo key" -tier startup \
	-scopes customers:read,customers:write,inference:read,inference:write,billing:read -out "$demo" >&2
.build/tools/authctl bootstrap -name "demo admin" -scopes admin:full -out "$STATE/admin-key" >/dev/null 2>&1
rel=${STATE#"$KEYGATE_ROOT"/}
cat <<MSG

keygate is running on SAM CLI at ${base_url}  (Ctrl-C stops everything)
A demo key is in $rel/demo-key, an admin:full key in $rel/admin-key. Try, from the repo root:

  KEY=\$(cat $rel/demo-key)
  TOKEN=\$(curl -s -X POST ${base_url}/v1/auth/token -H "Authorization: Bearer \$KEY" \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -w '\n' ${base_url}/v1/customers -H "Authorization: Bearer \$TOKEN"             # 200 + authorizer context
  curl -s -w '\n' -X DELETE ${base_url}/v1/customers/42 -H "Authorization: Bearer \$TOKEN" # 403 (SAM's own body)
  curl -s -w '\n' ${base_url}/v1/customers                                                # 401 (SAM's own body)
  curl -s -w '\n' ${base_url}/v1/auth/validate -H "Authorization: Bearer \$TOKEN"         # what the token carries
  curl -s -w '\n' ${base_url}/.well-known/jwks.json                                       # public signing keys

Admin console: ${base_url}/console  (sign in with the key in $rel/admin-key)
SAM local differs from API Gateway where the gateway itself answers: see docs/sam-local.md.
Function logs: $rel/sam-local.log

MSG
wait "$sam_pid"
