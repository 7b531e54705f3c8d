// Package ddbcontract is the DynamoDB contract suite: its tests pin, through the real
// aws-sdk-go-v2 DynamoDB client against the local emulator (moto behind
// infra/local/stack/moto_serialised.py), every DynamoDB behaviour keygate relies on: atomic
// conditional writes under concurrency, all-or-nothing TransactWriteItems with cancellation
// reasons in request order, strongly consistent reads, Query and GSI paging, TTL, and the
// error types keygate maps. The next emulator change (a moto upgrade, a new wrapper, another
// emulator) is checked by this suite instead of hoped.
//
// Where the emulator differs from DynamoDB's documented behaviour, a test pins what the
// emulator does today, names what DynamoDB does instead and names keygate's workaround, so a
// difference is never silent: docs/emulators.md lists them all with the test that pins each.
//
// The package holds tests only and must never be imported. Its tests must never talk to real
// AWS (every client comes from infra/test/emulatortest), never test keygate's own logic (that is
// shared/store/storetest's job; this suite tests the emulator keygate's tests stand on), never
// sleep to wait for timing, and never loosen an assertion to make an emulator pass: an
// emulator that stops matching a pin is a finding, to be explained in docs/emulators.md.
package ddbcontract
