// Times AWS's aws-jwt-verify on one token, in process, for `make bench` (infra/bench).
//
//   NODE_PATH=$KEYGATE_NODE_MODULES node aws-jwt-verify-bench.cjs <fixture.json
//
// stdin: {"token", "jwks", "issuer", "audience", "now_unix_ms", "rounds", "benchtime_ms"}
// (the token and JWKS BenchmarkAuthorizer exported). The JWKS is handed to the verifier once
// (cacheJwks), so no network and no process start is timed: after a warm-up, each of `rounds`
// rounds times verifySync calls for about benchtime_ms and prints one line in Go's benchmark
// format, which benchstat reads next to the Go results:
//
//   BenchmarkAwsJwtVerify/verify-sync-2   20000   24310 ns/op
//
// The verifier is infra/test/interop's (keygate-verifier.cjs): it checks what keygate's does. Date.now is pinned to the
// benchmark's clock so the exported token is current, as keygate's benchmark injects its clock.
"use strict";

const os = require("node:os");
const { createVerifier, readJSONStdin } = require("../test/interop/keygate-verifier.cjs");

async function main() {
  const input = await readJSONStdin();
  const rounds = input.rounds ?? 6;
  const benchtimeNs = (input.benchtime_ms ?? 1000) * 1e6;
  const now = input.now_unix_ms;
  if (typeof now === "number") {
    Date.now = () => now;
  }
  const verifier = createVerifier({
    issuer: input.issuer,
    audience: input.audience,
    jwksUri: "https://keygate.invalid/.well-known/jwks.json", // never fetched: cacheJwks below
  });
  verifier.cacheJwks(input.jwks);
  const token = input.token;
  const payload = verifier.verifySync(token); // throws if the token is not accepted
  if (!payload.jti) {
    throw new Error("verified payload has no jti");
  }
  // Warm up (JIT, the library's key cache) for a quarter of benchtime.
  const warmStart = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - warmStart) < benchtimeNs / 4) {
    for (let i = 0; i < 100; i++) verifier.verifySync(token);
  }
  // The -N suffix mirrors go test's (GOMAXPROCS, the core count by default) so the names line
  // up in benchstat; verifySync itself runs on one thread, as each Go benchmark loop does.
  const name = `BenchmarkAwsJwtVerify/verify-sync-${os.availableParallelism()}`;
  // Each round runs batches of 100 until benchtime has passed, as go test grows b.N.
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let ns = 0;
    while (ns < benchtimeNs) {
      for (let i = 0; i < 100; i++) verifier.verifySync(token);
      n += 100;
      ns = Number(process.hrtime.bigint() - start);
    }
    process.stdout.write(`${name}\t${n}\t${(ns / n).toFixed(1)} ns/op\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`aws-jwt-verify-bench: ${err.stack || err}\n`);
  process.exit(2);
});
