# keygate — make run (local stack + API), make test (unit + integration on real emulators).
# Everything a target needs is installed by the target itself into ~/.cache/keygate.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
FUNCTIONS := token refresh validate revoke jwks keys authorizer rotate echo console plans
LOCAL_BIN := .build/local

# Ports: make run and make test use different ones so both can run at once.
RUN_API_PORT  ?= 3000
RUN_DDB_PORT  ?= 8100
RUN_SM_PORT   ?= 8101
TEST_DDB_PORT ?= 8200
TEST_SM_PORT  ?= 8201
TEST_STACK    ?= test

export SAM_CLI_TELEMETRY := 0

LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: help run test test-unit lint build build-local bench clean tools rotate fuzz
.PHONY: contract sam-local sam-invoke test-sam

# The SAM CLI path (infra/local/sam): a Docker engine (yours, else a private dockerd from Debian
# packages, as root on Linux), the same emulators as make run, sam build + sam local start-api.
SAM_API_PORT ?= 3000
sam-local: ## serve the API with the real SAM CLI (sam local start-api) on :$(SAM_API_PORT), print a demo key and curls (Ctrl-C stops all)
	@bash infra/local/sam/sam-local.sh sam 8400 8401 $(SAM_API_PORT)

# With make sam-local running: one function through sam local invoke on an event fixture.
FN ?= AuthorizerFunction
EVENT ?= infra/local/sam/events/authorizer-allow.json
sam-invoke: ## with make sam-local running: sam local invoke FN (default AuthorizerFunction) on EVENT (a file of infra/local/sam/events)
	@eval "$$(bash infra/local/sam/engine.sh find)"; export DOCKER_HOST; \
		eval "$$(bash infra/local/stack/install.sh --print-env)"; \
		export SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local; \
		$(GO) run ./infra/cmd/samlocal invoke -sam "$$KEYGATE_VENV/bin/sam" $(FN) $(EVENT)

# The e2e tests of the user-facing contract (infra/test/e2e's externalTier), through sam local.
test-sam: ## the end-to-end contract tier through sam local start-api (own stack on 8410/8411, API on 3410)
	@bash infra/local/sam/test-tier.sh

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

run: build-local ## start the local stack and API on :$(RUN_API_PORT), create a demo key, print curls (Ctrl-C stops all)
	@RUN_API_PORT=$(RUN_API_PORT) bash infra/local/stack/with-stack.sh run $(RUN_DDB_PORT) $(RUN_SM_PORT) -- bash infra/local/run-local.sh

# Against a running `make run`: the emulator cannot invoke our Lambda, so authctl plays Secrets
# Manager's part and drives the real RotateFunction through the local Lambda Invoke API (:3001).
rotate: ## rotate the signing key of the stack make run serves now (prints the new kid)
	@AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$(RUN_SM_PORT) AWS_REGION=us-east-1 \
		AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
		$(GO) run ./infra/cmd/authctl signing-keys rotate -lambda-endpoint http://127.0.0.1:3001

# make test PKGS=./infra/test/e2e TEST_FLAGS='-run Checksum -v' narrows a run while iterating.
PKGS ?= ./...
TEST_FLAGS ?=

test: build-local ## unit + integration tests against the moto emulators (DynamoDB, Secrets Manager; started and stopped here), then every in-process benchmark once
	@bash infra/local/stack/with-stack.sh $(TEST_STACK) $(TEST_DDB_PORT) $(TEST_SM_PORT) -- \
		env KEYGATE_REQUIRE_EMULATORS=1 KEYGATE_LOCAL_BIN=$(CURDIR)/$(LOCAL_BIN) \
		$(GO) test -count=1 -race $(TEST_FLAGS) $(PKGS)
	@# One iteration of each benchmark: make bench measures them, this keeps them runnable.
	@if [ "$(PKGS)" = "./..." ] && [ -z "$(TEST_FLAGS)" ]; then $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./shared/...; fi

# The API contract (infra/openapi): schemathesis against the local API on a stack of its own.
# CONTRACT_MAX_EXAMPLES=… (default 100 per operation and phase), CONTRACT_ARGS='--include-path …'.
contract: build-local tools ## schemathesis against the local API from infra/openapi/openapi.yaml (own stack on 8350/8351, API on 3350)
	@bash infra/local/stack/with-stack.sh contract 8350 8351 -- bash infra/openapi/contract.sh $(CONTRACT_ARGS)

FUZZTIME ?= 60s

fuzz: ## run every fuzz target for FUZZTIME each (default 60s; CI runs them briefly)
	@GO=$(GO) bash infra/test/fuzz.sh $(FUZZTIME)

test-unit: ## unit tests only (no emulators)
	$(GO) test -count=1 ./...

# checkov (the scanner a security review runs; pinned in its own venv, offline with
# --skip-download) reads template.yaml as a new user would, with the parameters' defaults, and
# skips the resources whose Condition is then false: so it also reads one copy per samconfig.toml
# environment with that environment's overrides as defaults (the prod web ACL is only in prod's).
# A check that does not apply is skipped next to its resource with the reason (templatecheck
# holds every skip to one); any finding fails lint. It runs beside cfn-lint and sam validate.
# A clean scan is remembered under the hash of everything it read (template, samconfig, the
# pins, this Makefile), so a warm lint of an unchanged template skips it; LINT_RESCAN=1 forces it.
LINT_RESCAN ?=
lint: tools ## gofmt, go vet, cfn-lint, sam validate --lint, checkov (template and every environment)
	@out=$$(gofmt -l functions shared infra); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@eval "$$(bash infra/local/stack/install.sh --lint --print-env)"; \
		tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
		ckv="$$(grep '^checkov==' infra/local/stack/lint-requirements.txt)"; \
		clean="$$KEYGATE_CACHE/checkov-clean/$$(cat template.yaml samconfig.toml Makefile infra/local/stack/lint-requirements.txt \
			infra/test/templatecheck/testdata/env_templates.py <(echo "$$KEYGATE_LINT_VENV") | sha256sum | cut -c1-16)"; \
		checkov=; \
		if [ -f "$$clean" ] && [ -z "$(LINT_RESCAN)" ]; then \
			echo "$$ckv: nothing it reads changed since the last clean scan ($$(cat "$$clean"); LINT_RESCAN=1 scans again)"; \
		else \
			"$$KEYGATE_LINT_VENV/bin/python" infra/test/templatecheck/testdata/env_templates.py template.yaml samconfig.toml "$$tmp/envs" || exit 1; \
			"$$KEYGATE_LINT_VENV/bin/checkov" --skip-download --framework cloudformation --compact --quiet \
				-f template.yaml $$(for f in "$$tmp"/envs/*.json; do printf -- '-f %s ' "$$f"; done) >"$$tmp/checkov.out" 2>&1 & \
			checkov=$$!; \
		fi; \
		"$$KEYGATE_VENV/bin/cfn-lint" template.yaml && \
		"$$KEYGATE_VENV/bin/sam" validate --lint --template template.yaml --region us-east-1; cfn=$$?; \
		scan=0; if [ -n "$$checkov" ]; then \
			wait $$checkov; scan=$$?; \
			echo "$$ckv on template.yaml and $$(cd "$$tmp/envs" && echo *.json):"; cat "$$tmp/checkov.out"; \
			summary="$$(grep -o 'Passed checks: .*' "$$tmp/checkov.out")"; \
			if [ $$scan -eq 0 ]; then mkdir -p "$${clean%/*}" && echo "$$summary" >"$$clean"; fi; \
		fi; \
		[ $$cfn -eq 0 ] && [ $$scan -eq 0 ]

build: tools ## sam build (arm64 bootstraps for provided.al2023 in .aws-sam/build)
	@eval "$$(bash infra/local/stack/install.sh --print-env)"; \
		"$$KEYGATE_VENV/bin/sam" build --template template.yaml

build-local: ## host-architecture bootstraps for the local API, laid out like .aws-sam/build
	@for fn in $(FUNCTIONS); do \
		id="$$(tr '[:lower:]' '[:upper:]' <<< $${fn:0:1})$${fn:1}Function"; \
		CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(LOCAL_BIN)/$$id/bootstrap ./functions/$$fn || exit 1; \
	done

# make bench runs on emulators of its own (moto for DynamoDB and Secrets Manager), beside make run and make test;
# BENCH_FLAGS passes flags to infra/bench (e.g. BENCH_FLAGS='-count 2 -arm64=false' while iterating).
BENCH_PORTS ?= 8330 8331
BENCH_FLAGS ?=

bench: build-local ## keygate vs bare RSA, golang-jwt and aws-jwt-verify; endpoints, cold starts, sizes, gateway req/s: one table + SVG in .bench/
	@set -a; eval "$$(bash infra/local/stack/install.sh --print-env)"; set +a; \
		bash infra/local/stack/with-stack.sh bench $(BENCH_PORTS) -- \
		env KEYGATE_LOCAL_BIN=$(CURDIR)/$(LOCAL_BIN) GO=$(GO) $(GO) run ./infra/bench -out .bench $(BENCH_FLAGS)

tools: ## install the pinned emulators and Python tools (idempotent, cached)
	@bash infra/local/stack/install.sh

clean: ## stop leftover local stacks, remove build outputs and local state
	-@for s in run test sam sam-e2e; do bash infra/local/stack/down.sh $$s >/dev/null 2>&1; done
	rm -rf .aws-sam .build .stack

# --- sam build (BuildMethod: makefile): one target per function, run by SAM with ARTIFACTS_DIR.
# SAM does not tell make the architecture: the template deploys arm64, and make sam-local
# builds for the local engine with LAMBDA_GOARCH=amd64 (on x86_64) in the environment.
LAMBDA_GOARCH ?= arm64
define LAMBDA_TARGET
build-$(1):
	GOOS=linux GOARCH=$$(LAMBDA_GOARCH) CGO_ENABLED=0 $$(GO) build $$(LAMBDA_FLAGS) -o $$(ARTIFACTS_DIR)/bootstrap ./functions/$(2)
endef
$(foreach fn,$(FUNCTIONS),$(eval $(call LAMBDA_TARGET,$(shell echo $(fn) | sed 's/./\U&/')Function,$(fn))))

# --- deployment (needs AWS credentials; not run in CI)
ENV ?= dev
.PHONY: deploy
deploy: build ## sam deploy --config-env $(ENV) (dev, staging, prod)
	@eval "$$(bash infra/local/stack/install.sh --print-env)"; \
		"$$KEYGATE_VENV/bin/sam" deploy --config-env $(ENV)
