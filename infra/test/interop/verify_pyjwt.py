"""Verifies keygate access tokens with PyJWT (an implementation independent of keygate's),
fetching keygate's JWKS over HTTPS with PyJWKClient, the way any outside verifier would.

    $KEYGATE_VENV/bin/python verify_pyjwt.py <in.json

stdin:  {"jwks_uri": "...", "issuer": "...", "audience": "...", "cafile": "ca.pem" (optional),
         "tokens": ["...", ...]}
stdout: a JSON array with one {"valid": true, "sub", "scope", "jti"} or
        {"valid": false, "error": "..."} per token, in order.
One PyJWKClient serves every token (its JWKS cache refetches on an unknown kid). The algorithm
accepted for a token is the one its JWK declares, never the one its header asks for.
Exits non-zero only when it cannot run at all.
"""

import json
import ssl
import sys

import jwt


def main() -> None:
    inp = json.load(sys.stdin)
    ctx = ssl.create_default_context(cafile=inp["cafile"]) if inp.get("cafile") else None
    client = jwt.PyJWKClient(inp["jwks_uri"], cache_jwk_set=True, lifespan=300, ssl_context=ctx)
    results = []
    for token in inp["tokens"]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "at+jwt":
                raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, want 'at+jwt'")
            key = client.get_signing_key_from_jwt(token)
            if not key.algorithm_name:
                raise jwt.InvalidTokenError("the JWK declares no algorithm")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=inp["audience"],
                issuer=inp["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
            results.append({"valid": True, "sub": claims.get("sub"), "scope": claims.get("scope"), "jti": claims.get("jti")})
        except Exception as err:  # every failure is a verdict on that token, not a crash
            results.append({"valid": False, "error": f"{type(err).__name__}: {err}"})
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
