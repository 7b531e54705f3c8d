// No key or token in what the client prints, throws or logs; and webhook verification:
// standardwebhooks underneath, keygate's header rules and secret rotation on top. The vectors
// shared with the Go package run in the e2e suite.

import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describe, it } from "node:test";

import { Webhook } from "standardwebhooks";

import { KeygateClient, KeygateError, Secret } from "../../src/index.js";
import * as webhooks from "../../src/webhooks.js";
import { API_KEY, BASE, FakeKeygate, ManualClock, error } from "../support/fake.js";

describe("redaction", () => {
  it("nothing prints or logs a secret", async () => {
    const fake = new FakeKeygate();
    const clock = new ManualClock();
    const logged: string[] = [];
    const log = (m: string, f?: Record<string, unknown>) => void logged.push(m + " " + JSON.stringify(f ?? {}));
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch, clock, refreshJitterMs: 0, logger: { debug: log, info: log, warn: log } });
    await client.fetch("/customers");
    clock.advance(900_000); // refresh
    await client.fetch("/customers");
    fake.revokeAccess(fake.sentTo("GET /v1/customers").at(-1)!.auth.slice(7)); // 401, refresh, retry
    await client.fetch("/customers");
    fake.script("POST /v1/auth/refresh", error(500, "internal_error", "boom", "api_error"));
    clock.advance(870_000);
    await client.fetch("/customers"); // a failed refresh is logged as a warning
    fake.script("GET /v1/customers", error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 1 }));
    await client.fetch("/customers");
    const created = await client.keys.create({ name: "svc", scopes: ["customers:read"] });
    let err: unknown;
    try {
      await new KeygateClient({ baseUrl: BASE, apiKey: API_KEY.slice(0, -1) + "x", fetch: fake.fetch }).fetch("/customers");
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof KeygateError);
    const texts = [...logged, String(client), inspect(client), JSON.stringify(client), String(err), inspect(err), JSON.stringify(err), inspect(created), JSON.stringify(created), `${created.secret}`, inspect(created.secret), inspect(client.keys)];
    assert.ok(logged.some((l) => l.includes("refreshing the token")), "the client logged nothing: the test proves nothing");
    const secrets = [API_KEY, ...fake.access.keys(), ...fake.refresh.keys(), created.secret.reveal()];
    const leaked = secrets.filter((s) => texts.some((t) => t.includes(s)));
    assert.deepEqual(leaked, []);
  });

  it("redacted forms keep the kind of credential", () => {
    const s = new Secret("kg_live_" + "x".repeat(36) + "_abcdef");
    assert.equal(String(s), "kg_live_…[redacted]");
    assert.equal(JSON.stringify({ s }), '{"s":"kg_live_…[redacted]"}');
    assert.equal(inspect(s), "Secret(kg_live_…[redacted])");
    assert.ok(s.reveal().startsWith("kg_live_x"));
    assert.match(String(new KeygateClient({ baseUrl: BASE, apiKey: API_KEY })), /kg_test_…\[redacted\]/);
  });
});

const SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

function fresh(secret = SPEC_SECRET, id = "msg_1", body: string | Uint8Array = '{"type":"key.revoked"}', ts = Math.floor(Date.now() / 1000)) {
  return { h: webhooks.signedHeaders(secret, id, ts, body), body };
}

function reason(h: Record<string, string>, body: string | Uint8Array, secrets: string[] = [SPEC_SECRET]): string {
  try {
    new webhooks.Verifier(secrets).verify(h, body);
    return "valid";
  } catch (e) {
    assert.ok(e instanceof webhooks.WebhookVerificationError, String(e));
    return e.reason;
  }
}

describe("webhooks", () => {
  it("signs the specification's example as specified", () => {
    assert.equal(webhooks.sign(SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'), SPEC_SIGNATURE);
  });

  it("verifies a fresh delivery given as a Headers, a record or entries, bytes or string", () => {
    const { h, body } = fresh();
    const v = new webhooks.Verifier(SPEC_SECRET);
    v.verify(new Headers(h), body);
    v.verify(Object.fromEntries(Object.entries(h).map(([k, x]) => [k.toUpperCase(), x])), new TextEncoder().encode(body as string));
    v.verify(Object.entries(h), body);
  });

  it("verifies bodies that are not UTF-8 byte for byte", () => {
    const body = new Uint8Array([0xff, 0xfe, 0x00, 0x62]);
    const { h } = fresh(SPEC_SECRET, "msg_bin", body);
    webhooks.verify(h, body, SPEC_SECRET);
    assert.equal(reason(h, new Uint8Array([...body, 0])), "no_match");
  });

  it("accepts either secret during a rotation, and one signature per secret", () => {
    const [oldS, newS] = [webhooks.newSecret(), webhooks.newSecret()];
    const v = new webhooks.Verifier([newS, oldS]);
    for (const s of [oldS, newS]) {
      const { h, body } = fresh(s);
      v.verify(h, body);
    }
    const { h, body } = fresh(oldS);
    h["webhook-signature"] = webhooks.sign(newS, "msg_1", Number(h["webhook-timestamp"]), body) + " " + h["webhook-signature"];
    new webhooks.Verifier(oldS).verify(h, body);
    new webhooks.Verifier(newS).verify(h, body);
    assert.equal(reason(h, body, [webhooks.newSecret()]), "no_match");
  });

  it("ignores empty entries in a secret list, not an empty list", () => {
    new webhooks.Verifier([SPEC_SECRET, ""]);
    assert.throws(() => new webhooks.Verifier(["", ""]), TypeError);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const tampered: [string, (h: Record<string, string>) => Record<string, string>, string, string?][] = [
    ["a changed body", (h) => h, "no_match", " "],
    ["another id", (h) => ({ ...h, "webhook-id": "msg_2" }), "no_match"],
    ["another timestamp", (h) => ({ ...h, "webhook-timestamp": String(Number(h["webhook-timestamp"]) + 1) }), "no_match"],
    ["a stale timestamp", (h) => ({ ...h, "webhook-timestamp": String(now() - 301) }), "timestamp_too_old"],
    ["a future timestamp", (h) => ({ ...h, "webhook-timestamp": String(now() + 301) }), "timestamp_too_new"],
    ["no id header", ({ "webhook-id": _, ...rest }) => rest, "missing_headers"],
    ["an empty signature", (h) => ({ ...h, "webhook-signature": "" }), "missing_headers"],
    ["an id with a space", (h) => ({ ...h, "webhook-id": "msg 1" }), "invalid_headers"],
    ["an id too long", (h) => ({ ...h, "webhook-id": "m".repeat(257) }), "invalid_headers"],
    ["a timestamp in exponent form", (h) => ({ ...h, "webhook-timestamp": "1.7e9" }), "invalid_headers"],
    ["a signed timestamp", (h) => ({ ...h, "webhook-timestamp": "+" + h["webhook-timestamp"] }), "invalid_headers"],
    ["a signature that is not base64", (h) => ({ ...h, "webhook-signature": "v1,not-base64!" }), "invalid_headers"],
    ["a signature of the wrong length", (h) => ({ ...h, "webhook-signature": "v1,AAAA" }), "invalid_headers"],
    ["an entry without a comma", (h) => ({ ...h, "webhook-signature": "v1" }), "invalid_headers"],
    ["an entry without a version", (h) => ({ ...h, "webhook-signature": ",abc" }), "invalid_headers"],
    ["only another version's signatures", (h) => ({ ...h, "webhook-signature": "v1a,abc" }), "no_match"],
    ["too many signatures", (h) => ({ ...h, "webhook-signature": Array(33).fill(h["webhook-signature"]).join(" ") }), "invalid_headers"],
  ];
  for (const [name, tamper, want, extra] of tampered) {
    it(`refuses ${name} (${want})`, () => {
      const { h, body } = fresh();
      assert.equal(reason(tamper(h), (body as string) + (extra ?? "")), want);
    });
  }

  it("skips other versions beside a good v1", () => {
    const { h, body } = fresh();
    h["webhook-signature"] = "v1a,c29tZXRoaW5n " + h["webhook-signature"];
    new webhooks.Verifier(SPEC_SECRET).verify(h, body);
  });

  for (const [name, secret] of [["empty", ""], ["prefix only", "whsec_"], ["too short", "whsec_c2hvcnQ="], ["too long", "whsec_" + "A".repeat(100)], ["not base64", "whsec_not*base64*at*all!!"]] as const) {
    it(`refuses a bad secret (${name}) without showing it`, () => {
      assert.throws(() => new webhooks.Verifier(secret), (e: unknown) => e instanceof webhooks.InvalidSecretError && (secret.length <= 6 || !String(e).includes(secret.slice(6))));
    });
  }

  it("decodes secrets with or without prefix and padding alike", () => {
    assert.deepEqual(webhooks.decodeSecret(SPEC_SECRET.slice(6)), webhooks.decodeSecret(SPEC_SECRET));
    const padded = webhooks.newSecret();
    assert.deepEqual(webhooks.decodeSecret(padded.replace(/=+$/, "")), webhooks.decodeSecret(padded));
  });

  it("agrees with the library itself", () => {
    const s = webhooks.newSecret();
    const ts = new Date(Math.floor(Date.now() / 1000) * 1000);
    assert.equal(webhooks.sign(s, "msg_x", ts, "body"), new Webhook(s).sign("msg_x", ts, "body"));
  });

  it("never shows its secrets", () => {
    const s = webhooks.newSecret();
    const v = new webhooks.Verifier([s, SPEC_SECRET]);
    for (const t of [String(v), inspect(v), JSON.stringify(v)]) {
      assert.ok(!t.includes(s) && !t.includes(SPEC_SECRET) && t.includes("2 (redacted)"));
    }
  });
});
