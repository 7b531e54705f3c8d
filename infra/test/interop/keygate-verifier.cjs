// The aws-jwt-verify setup that infra/test/interop (the interop test) and infra/bench (the
// benchmark) share, so the benchmark times exactly the checks the interop test proves: RS256
// or whichever algorithm the JWKS names, iss, aud, exp/nbf, and typ at+jwt (RFC 9068; the
// library leaves typ to a custom check). Also reads a script's JSON input from stdin.
"use strict";

const { JwtVerifier } = require("aws-jwt-verify");

// createVerifier returns a JwtVerifier for keygate access tokens.
function createVerifier({ issuer, audience, jwksUri }) {
  return JwtVerifier.create({
    issuer,
    audience,
    jwksUri,
    customJwtCheck: ({ header }) => {
      if (header.typ !== "at+jwt") {
        throw new Error(`typ is ${JSON.stringify(header.typ)}, want "at+jwt"`);
      }
    },
  });
}

// readJSONStdin parses the whole of stdin as JSON.
async function readJSONStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

module.exports = { createVerifier, readJSONStdin };
