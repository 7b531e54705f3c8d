// Package sdk runs the client SDKs' own test suites (sdk/python with pytest, sdk/typescript
// with tsc and node's test runner) from go test, so that make test runs them: their unit
// tests, their end-to-end tests against a real local stack (the local API Gateway and the real
// function binaries on the emulators make test starts, as infra/test/e2e runs them), the
// webhook vectors shared with shared/webhook in both directions, the packages as they would be
// published (wheel, sdist, npm pack: contents checked) and the READMEs' quick starts.
//
// The SDKs' toolchains come from infra/local/stack/install.sh --sdk (pinned, cached per user).
// Without the emulators or the toolchains the tests skip, unless KEYGATE_REQUIRE_EMULATORS=1
// (make test) makes that a failure.
//
// The stack here shares the emulators with infra/test/e2e, which may run at the same time and
// provisions the same stage: so every table and secret name this stack's functions use is
// renamed on its way to the emulators (keygate-local-… to keygate-sdk-…), and neither suite
// can see, or race to create, the other's.
//
// It must never print a credential it did not make for itself: the suites' output is shown
// on failure only, and the SDKs redact.
package sdk
