// Verifies keygate access tokens with AWS's aws-jwt-verify (an implementation independent of
// keygate's), fetching keygate's JWKS over HTTPS the way any outside verifier would.
//
//   NODE_PATH=$KEYGATE_NODE_MODULES NODE_EXTRA_CA_CERTS=ca.pem node verify-aws-jwt-verify.cjs <in.json
//
// stdin:  {"jwks_uri": "...", "issuer": "...", "audience": "...", "tokens": ["...", ...]}
// stdout: a JSON array with one {"valid": true, "sub", "scope", "jti"} or
//         {"valid": false, "error": "..."} per token, in order.
// One verifier serves every token, so its JWKS cache and unknown-kid refetch are exercised too.
// Exits non-zero only when it cannot run at all (bad input, library missing).
"use strict";

const { createVerifier, readJSONStdin } = require("./keygate-verifier.cjs");

async function main() {
  const input = await readJSONStdin();
  const verifier = createVerifier({ issuer: input.issuer, audience: input.audience, jwksUri: input.jwks_uri });
  const results = [];
  for (const token of input.tokens) {
    try {
      const payload = await verifier.verify(token);
      results.push({ valid: true, sub: payload.sub, scope: payload.scope, jti: payload.jti });
    } catch (err) {
      results.push({ valid: false, error: `${err.name}: ${err.message}` });
    }
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((err) => {
  process.stderr.write(`verify-aws-jwt-verify: ${err.stack || err}\n`);
  process.exit(2);
});
