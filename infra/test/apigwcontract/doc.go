// Package apigwcontract is the API Gateway control-plane contract suite: its tests pin,
// through the real aws-sdk-go-v2 apigateway client against the local emulator (moto, which
// serves every service on the Secrets Manager port), the API key and usage-plan behaviours
// keygate relies on (shared/usageplan, the local gateway's usage plans, provisioning), and
// where moto differs from API Gateway. A difference is never silent: each test that pins one
// names what API Gateway does instead and keygate's workaround.
//
// Every test runs in a moto account of its own (the x-moto-account-id header), because some
// of moto's gaps poison the whole account's state (a patched quota makes every GetUsagePlans
// of that account unreadable) and other suites share the emulator.
//
// The package holds tests only and must never be imported. Its tests must never talk to real
// AWS, never test keygate's own logic, and never loosen an assertion to make an emulator pass:
// an emulator that stops matching a pin is a finding.
package apigwcontract
