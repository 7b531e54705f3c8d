#!/usr/bin/env bash
# The API contract run (make contract): the local API on emulators that
# infra/local/stack/with-stack.sh started, keys created for the run, then schemathesis generates
# requests from infra/openapi/openapi.yaml and checks every answer against it (status codes,
# content types, headers, response schemas, 5xx, refusal of invalid data, 405 for other
# methods, 401 without credentials).
#
# Environment:
#   CONTRACT_API_PORT      port of the local API (default 3350)
#   CONTRACT_MAX_EXAMPLES  examples per operation and phase (default 100)
#   CONTRACT_SEED          hypothesis seed (default: random; printed by schemathesis)
#   CONTRACT_REPORT_DIR    JUnit and NDJSON reports, all/ and tokens/ (default .stack/contract)
# Extra arguments go to `schemathesis run` (e.g. --include-path /v1/auth/token) and skip the
# second, token-chain run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
port="${CONTRACT_API_PORT:-3350}"
base="http://127.0.0.1:${port}"
reports="${CONTRACT_REPORT_DIR:-$repo/.stack/contract}"
mkdir -p "$reports" .build/tools

: "${KEYGATE_DYNAMODB_ENDPOINT:?run me through infra/local/stack/with-stack.sh}"
: "${KEYGATE_SECRETS_ENDPOINT:?run me through infra/local/stack/with-stack.sh}"
eval "$(bash infra/local/stack/install.sh --print-env)"
# The document itself first: a valid OpenAPI 3.1 document (openapi-spec-validator, in the venv).
"$KEYGATE_VENV/bin/python" -m openapi_spec_validator infra/openapi/openapi.yaml

go build -o .build/tools/localapi ./infra/cmd/localapi
go build -o .build/tools/authctl ./infra/cmd/authctl

export AWS_ENDPOINT_URL_DYNAMODB="$KEYGATE_DYNAMODB_ENDPOINT"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="$KEYGATE_SECRETS_ENDPOINT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local

.build/tools/localapi -template template.yaml -addr "127.0.0.1:${port}" -lambda-addr "" \
	-bin .build/local -quiet 2>"$reports/localapi.log" &
api_pid=$!
stop() { kill -TERM "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 150); do
	if curl -fsS -o /dev/null "${base}/.well-known/jwks.json" 2>/dev/null; then break; fi
	if ! kill -0 "$api_pid" 2>/dev/null; then
		cat "$reports/localapi.log" >&2
		echo "local API exited" >&2
		exit 1
	fi
	sleep 0.2
done
curl -fsS -o /dev/null "${base}/.well-known/jwks.json" || { echo "local API did not become ready on ${base}" >&2; exit 1; }

# High rate limits: the run must exercise the API, not the per-key limiter (429 is still in
# the contract and checked whenever it happens).
keys="$(mktemp -d)"
trap 'stop; rm -rf "$keys"' EXIT
.build/tools/authctl bootstrap -name "contract admin" -scopes admin:full -rate-limit 1000000 \
	-out "$keys/admin" 2>/dev/null
.build/tools/authctl bootstrap -name "contract key" -rate-limit 1000000 \
	-scopes inference:read,inference:write,customers:read,customers:write,customers:delete,billing:read,billing:write,webhooks:read,webhooks:write \
	-out "$keys/key" 2>/dev/null
KEYGATE_CONTRACT_API_KEY="$(cat "$keys/key")"
# The keys the {id} operations work on (schemathesis.toml): no credential of the run.
new_key_id() {
	curl -fsS -X POST "${base}/v1/keys" -H "Authorization: Bearer $(cat "$keys/admin")" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"scopes\":[\"customers:read\"]}" |
		"$KEYGATE_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["key_id"])'
}
KEYGATE_CONTRACT_KEY_ID="$(new_key_id "contract target")"
KEYGATE_CONTRACT_REVOKE_KEY_ID="$(new_key_id "contract target to revoke")"
KEYGATE_CONTRACT_ADMIN_TOKEN="$(curl -fsS -X POST "${base}/v1/auth/token" \
	-H "Authorization: Bearer $(cat "$keys/admin")" |
	"$KEYGATE_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
export KEYGATE_CONTRACT_API_KEY KEYGATE_CONTRACT_ADMIN_TOKEN KEYGATE_CONTRACT_KEY_ID KEYGATE_CONTRACT_REVOKE_KEY_ID

seed=()
[[ -z ${CONTRACT_SEED:-} ]] || seed=(--seed "$CONTRACT_SEED")
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
checks+=,response_headers_conformance,negative_data_rejection,unsupported_method,ignored_auth
checks+=,missing_required_header,ensure_resource_availability
# One worker: with two, hypothesis' ast.parse from concurrent threads trips CPython 3.11's
# "AST constructor recursion depth mismatch" SystemError (a runtime error, not a finding).
st() {
	"$KEYGATE_VENV/bin/schemathesis" --config-file infra/openapi/schemathesis.toml run infra/openapi/openapi.yaml \
		--url "$base" --checks "$checks" "${seed[@]}" \
		--workers 1 --request-timeout 15 --no-color --generation-database none "$@"
}
start=$SECONDS
status=0
# Every operation, every phase.
st --max-examples "${CONTRACT_MAX_EXAMPLES:-100}" --report junit,ndjson --report-dir "$reports/all" "$@" || status=$?
# The token chains (token -> refresh -> refresh ..., token -> revoke) on their own: among all
# the links of the first run, stateful testing reaches a refresh that succeeds only by chance.
if (($# == 0)); then
	st --max-examples 20 --phases stateful --include-tag auth \
		--report junit,ndjson --report-dir "$reports/tokens" || status=$?
fi
echo "contract: schemathesis finished in $((SECONDS - start)) s with status $status (reports in $reports)"
# A run that revoked or rotated its own credentials would have tested little but 401s after
# that point, and passed: refuse such a run.
for cred in "$KEYGATE_CONTRACT_ADMIN_TOKEN" "$KEYGATE_CONTRACT_API_KEY"; do
	code="$(curl -s -o /dev/null -w '%{http_code}' "${base}/v1/auth/validate" -H "Authorization: Bearer $cred")"
	if [[ $code != 200 ]]; then
		echo "contract: a credential of the run no longer validates (HTTP $code): the run revoked or rotated it" >&2
		status=1
	fi
done
exit "$status"
