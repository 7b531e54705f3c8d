#!/usr/bin/env bash
# Runs the local API against emulators that infra/local/stack/with-stack.sh started (it exports
# KEYGATE_DYNAMODB_ENDPOINT and KEYGATE_SECRETS_ENDPOINT), creates a demo API key and prints curl
# commands that work as printed. Ctrl-C stops the API; with-stack.sh then stops the emulators.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
port="${RUN_API_PORT:-3000}"
apigw_port="${RUN_APIGW_PORT:-3002}"
base="http://127.0.0.1:${port}"
state="${KEYGATE_STATE_DIR:-$repo/.stack}/run"
mkdir -p "$state" .build/tools

: "${KEYGATE_DYNAMODB_ENDPOINT:?run me through infra/local/stack/with-stack.sh}"
: "${KEYGATE_SECRETS_ENDPOINT:?run me through infra/local/stack/with-stack.sh}"

go build -o .build/tools/localapi ./infra/cmd/localapi
go build -o .build/tools/authctl ./infra/cmd/authctl

# The same standard SDK settings the local API gives the functions. API Gateway's control plane
# is the local API's own (moto's API keys and usage plans, GetUsage from the local gateway's
# counters), so what authctl changes there takes effect at the gateway at once.
export AWS_ENDPOINT_URL_DYNAMODB="$KEYGATE_DYNAMODB_ENDPOINT"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="$KEYGATE_SECRETS_ENDPOINT"
export AWS_ENDPOINT_URL_API_GATEWAY="http://127.0.0.1:${apigw_port}"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local

.build/tools/localapi -template template.yaml -addr "127.0.0.1:${port}" -apigateway-addr "127.0.0.1:${apigw_port}" -bin .build/local &
api_pid=$!
stop() { kill -TERM "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "${base}/.well-known/jwks.json" 2>/dev/null; then break; fi
  if ! kill -0 "$api_pid" 2>/dev/null; then echo "local API exited; see its output above" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS -o /dev/null "${base}/.well-known/jwks.json" || { echo "local API did not become ready on ${base}" >&2; exit 1; }

.build/tools/authctl bootstrap -name "demo key" -tier startup \
  -scopes customers:read,customers:write,inference:read,inference:write,billing:read \
  -out "$state/demo-key"
.build/tools/authctl bootstrap -name "demo admin" -scopes admin:full -out "$state/admin-key" 2>/dev/null

cat <<MSG

keygate is running at ${base}  (Ctrl-C stops everything)
A demo key (customers:read/write, inference:read/write, billing:read) is in .stack/run/demo-key,
an admin:full key in .stack/run/admin-key. Try, from the repo root:

  KEY=\$(cat .stack/run/demo-key)
  TOKEN=\$(curl -s -X POST ${base}/v1/auth/token -H "Authorization: Bearer \$KEY" \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -w '\n' ${base}/v1/customers -H "Authorization: Bearer \$TOKEN"             # 200 + authorizer context
  curl -s -w '\n' -X DELETE ${base}/v1/customers/42 -H "Authorization: Bearer \$TOKEN" # 403: needs customers:delete
  curl -s -w '\n' ${base}/v1/customers                                                # 401 in the error shape
  curl -s -w '\n' ${base}/v1/auth/validate -H "Authorization: Bearer \$TOKEN"         # what the token carries
  curl -s -w '\n' ${base}/.well-known/jwks.json                                       # public signing keys

  make rotate    # rotate the signing key now: new tokens get a new kid, old ones keep verifying

Admin console: ${base}/console  (sign in with the key in .stack/run/admin-key)
API Gateway control plane (API keys, usage plans, GetUsage): ${AWS_ENDPOINT_URL_API_GATEWAY}
  for other shells: export AWS_ENDPOINT_URL_API_GATEWAY=${AWS_ENDPOINT_URL_API_GATEWAY} (authctl reads it)

MSG
wait "$api_pid"
