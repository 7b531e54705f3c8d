// The token lifecycle of KeygateClient against the fake service, on a manual clock.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { AuthenticationError, KeygateClient, RateLimitError, APIError, type KeygateClientOptions } from "../../src/index.js";
import { API_KEY, BASE, FakeKeygate, ManualClock, error } from "../support/fake.js";

const TOKEN = "POST /v1/auth/token";
const REFRESH = "POST /v1/auth/refresh";
const CUSTOMERS = "GET /v1/customers";

function setup(o: Partial<KeygateClientOptions> = {}, fake = new FakeKeygate(), clock = new ManualClock()) {
  const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch, clock, ...o });
  return { client, fake, clock };
}

function seeded(seed: number): () => number {
  let x = seed + 1;
  return () => {
    x = (x * 48271) % 2147483647;
    return x / 2147483647;
  };
}

describe("exchange and refresh", () => {
  it("exchanges the key once and reuses the token; the key goes only to the token endpoint", async () => {
    const { client, fake } = setup();
    for (let i = 0; i < 5; i++) assert.equal((await client.fetch("/customers")).status, 200);
    assert.equal(fake.count(TOKEN), 1);
    assert.equal(fake.count(CUSTOMERS), 5);
    assert.equal(fake.sentTo(TOKEN)[0]!.auth, "Bearer " + API_KEY);
    for (const s of fake.sentTo(CUSTOMERS)) assert.ok(s.auth.startsWith("Bearer eyJ") && !s.auth.includes(API_KEY));
  });

  it("asks for the configured scopes, customer and lifetime", async () => {
    const { client, fake } = setup({ scopes: ["customers:read"], customerId: "cust-42", tokenTtl: 300 });
    await client.accessToken();
    assert.deepEqual(JSON.parse(fake.sentTo(TOKEN)[0]!.body), { scopes: ["customers:read"], customer_id: "cust-42", expires_in: 300 });
  });

  it("refreshes a margin before expiry and keeps the rotated refresh token", async () => {
    const { client, fake, clock } = setup({ refreshMarginMs: 60_000, refreshJitterMs: 0 });
    const first = await client.accessToken();
    clock.advance((900 - 61) * 1000);
    assert.equal(await client.accessToken(), first, "refreshed before the margin");
    clock.advance(2000);
    assert.notEqual(await client.accessToken(), first);
    clock.advance(900_000);
    await client.accessToken();
    const spent = fake.sentTo(REFRESH).map((s) => JSON.parse(s.body).refresh_token);
    assert.equal(spent.length, 2);
    assert.notEqual(spent[0], spent[1], "the second refresh spends the token the first returned");
    assert.equal(fake.count(TOKEN), 1);
  });

  for (const lifetime of [60, 900, 3600]) {
    for (const r of [0, 0.5, 0.999]) {
      it(`refreshes margin + jitter × random before expiry (lifetime ${lifetime} s, random ${r})`, async () => {
        const life = lifetime * 1000;
        const lead = Math.min(60_000, life / 2) + r * Math.min(30_000, life / 4);
        for (const [offset, refreshed] of [[-100, false], [100, true]] as const) {
          const fake = new FakeKeygate();
          fake.expiresIn = lifetime;
          const { client, clock } = setup({ random: () => r }, fake);
          await client.accessToken();
          clock.advance(life - lead + offset);
          await client.accessToken();
          assert.equal(fake.count(REFRESH) === 1, refreshed, `at ${offset} ms from the refresh point`);
        }
      });
    }
  }

  it("falls back to an exchange when the refresh token is refused", async () => {
    const { client, fake, clock } = setup({ refreshJitterMs: 0 });
    await client.accessToken();
    fake.script(REFRESH, error(400, "invalid_grant", "spent"));
    clock.advance(900_000);
    assert.equal((await client.fetch("/customers")).status, 200);
    assert.equal(fake.count(REFRESH), 1);
    assert.equal(fake.count(TOKEN), 2);
  });

  it("keeps the valid token through a transient refresh failure and tries again shortly", async () => {
    const { client, fake, clock } = setup({ refreshJitterMs: 0, retry: { maxAttempts: 1 } });
    const held = await client.accessToken();
    clock.advance((900 - 30) * 1000);
    fake.script(REFRESH, error(500, "internal_error", "boom", "api_error"));
    assert.equal(await client.accessToken(), held);
    clock.advance(5000);
    assert.notEqual(await client.accessToken(), held);
    assert.equal(fake.count(REFRESH), 2);
    assert.equal(fake.count(TOKEN), 1);
  });

  it("fails when the refresh fails and the token has expired", async () => {
    const { client, fake, clock } = setup({ retry: { maxAttempts: 1 } });
    await client.accessToken();
    clock.advance(901_000);
    fake.script(REFRESH, error(500, "internal_error", "boom", "api_error"));
    await assert.rejects(client.accessToken(), (e: unknown) => e instanceof APIError && e.code === "internal_error");
  });
});

describe("401, 429 and 503", () => {
  it("refreshes once on a 401 and retries with the same body", async () => {
    const { client, fake } = setup();
    const old = await client.accessToken();
    fake.revokeAccess(old);
    const r = await client.request<{ body: unknown }>("POST", "/inference/completions", { json: { prompt: "hi" } });
    assert.deepEqual(r.body, { prompt: "hi" });
    const sent = fake.sentTo("POST /v1/inference/completions");
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.auth, "Bearer " + old);
    assert.notEqual(sent[1]!.auth, sent[0]!.auth);
    assert.deepEqual(sent.map((s) => s.body), ['{"prompt":"hi"}', '{"prompt":"hi"}']);
    assert.equal(fake.count(REFRESH), 1);
  });

  it("retries a route that keeps refusing once, not for ever", async () => {
    const { client, fake } = setup();
    fake.script(CUSTOMERS, ...Array.from({ length: 10 }, () => error(401, "invalid_token", "no", "authentication_error")));
    const resp = await client.fetch("/customers");
    assert.equal(resp.status, 401);
    await assert.rejects(client.request("GET", "/customers"), (e: unknown) => e instanceof AuthenticationError && e.code === "invalid_token");
    assert.equal(fake.count(CUSTOMERS), 4);
    assert.equal(fake.count(REFRESH), 2);
  });

  it("does not retry a body it cannot send again", async () => {
    const { client, fake } = setup();
    fake.script("POST /v1/upload", error(401, "invalid_token", "no", "authentication_error"));
    const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("part")); c.close(); } });
    const resp = await client.fetch("/upload", { method: "POST", body, duplex: "half" } as RequestInit);
    assert.equal(resp.status, 401);
    assert.equal(fake.count("POST /v1/upload"), 1);
    assert.equal(fake.count(REFRESH), 0);
  });

  const named: [string, () => Response, number | undefined][] = [
    ["429 with Retry-After", () => error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 7 }), 7000],
    ["503 with retry_after in the body only", () => new Response(JSON.stringify({ error: { code: "service_unavailable", message: "x", type: "api_error", retry_after: 3 } }), { status: 503 }), 3000],
    ["503 with an HTTP-date Retry-After", () => new Response(null, { status: 503, headers: { "retry-after": "Wed, 15 Jan 2027 08:00:05 GMT" } }), undefined],
  ];
  for (const [name, answer, wait] of named) {
    it(`waits what the service names: ${name}`, async () => {
      const { client, fake, clock } = setup();
      await client.accessToken();
      fake.script(CUSTOMERS, answer());
      assert.equal((await client.fetch("/customers")).status, 200);
      assert.equal(fake.count(CUSTOMERS), 2);
      if (wait !== undefined) assert.deepEqual(clock.slept, [wait]);
      else assert.equal(clock.slept.length, 1);
    });
  }

  it("backs off exponentially, bounded, when no delay is named", async () => {
    const { client, fake, clock } = setup({ retry: { maxAttempts: 5, baseDelayMs: 500, maxWaitMs: 1500 }, random: seeded(3) });
    await client.accessToken();
    fake.script(CUSTOMERS, ...Array.from({ length: 4 }, () => new Response(null, { status: 503 })));
    assert.equal((await client.fetch("/customers")).status, 200);
    assert.equal(clock.slept.length, 4);
    clock.slept.forEach((w, i) => assert.ok(w > 0 && w <= Math.min(500 * 2 ** i, 1500) + 1, `wait ${i}: ${w}`));
  });

  it("does not wait for a Retry-After beyond maxWaitMs", async () => {
    const { client, fake, clock } = setup({ retry: { maxWaitMs: 10_000 } });
    await client.accessToken();
    fake.script(CUSTOMERS, error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 42 }));
    await assert.rejects(client.request("GET", "/customers"), (e: unknown) => e instanceof RateLimitError && e.retryAfter === 42 && e.temporary);
    assert.deepEqual(clock.slept, []);
    assert.equal(fake.count(CUSTOMERS), 1);
  });

  const quota = (named = true) =>
    named
      ? error(429, "quota_exceeded", "The key's quota for the period is used.", "rate_limit_error", { retry_after: 3600 })
      : new Response(JSON.stringify({ error: { code: "quota_exceeded", message: "m", type: "rate_limit_error" } }), { status: 429 }); // as a proxy might pass it on
  const quotaCases: [string, Partial<KeygateClientOptions>, boolean][] = [
    ["the default policy", {}, true],
    ["a policy that would wait two hours", { retry: { maxWaitMs: 7_200_000, maxAttempts: 10 } }, true],
    ["no delay named", {}, false],
  ];
  for (const [name, o, named] of quotaCases) {
    it(`never sleeps on a spent quota: ${name}`, async () => {
      const { client, fake, clock } = setup(o);
      await client.accessToken();
      fake.script(CUSTOMERS, quota(named), quota(named));
      const resp = await client.fetch("/customers");
      assert.equal(resp.status, 429, "client.fetch returns the 429");
      await assert.rejects(client.request("GET", "/customers"), (e: unknown) => e instanceof RateLimitError && e.code === "quota_exceeded" && e.retryAfter === (named ? 3600 : undefined));
      fake.script("GET /v1/keys", quota(named));
      await assert.rejects(client.keys.list(), RateLimitError); // the client's own calls too
      assert.deepEqual(clock.slept, []);
      assert.equal(fake.count(CUSTOMERS), 2);
      assert.equal(fake.count("GET /v1/keys"), 1);
    });
  }

  it("stops after maxAttempts", async () => {
    const { client, fake, clock } = setup({ retry: { maxAttempts: 3 } });
    await client.accessToken();
    fake.script(CUSTOMERS, ...Array.from({ length: 5 }, () => error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 1 })));
    assert.equal((await client.fetch("/customers")).status, 429);
    assert.equal(fake.count(CUSTOMERS), 3);
    assert.deepEqual(clock.slept, [1000, 1000]);
  });

  it("retries the token endpoints too", async () => {
    const { client, fake, clock } = setup();
    fake.script(TOKEN, error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 2 }), new Response(null, { status: 503, headers: { "retry-after": "1" } }));
    assert.ok((await client.accessToken()).startsWith("eyJ"));
    assert.equal(fake.count(TOKEN), 3);
    assert.deepEqual(clock.slept, [2000, 1000]);
  });

  it("ends a retry wait when the caller aborts", async () => {
    const fake = new FakeKeygate();
    const client = new KeygateClient({ baseUrl: BASE, apiKey: API_KEY, fetch: fake.fetch });
    await client.accessToken();
    fake.script(CUSTOMERS, error(429, "rate_limit_exceeded", "slow", "rate_limit_error", { retry_after: 20 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop")), 50);
    const start = Date.now();
    await assert.rejects(client.fetch("/customers", { signal: ac.signal }), /stop/);
    assert.ok(Date.now() - start < 5000);
  });
});

describe("the rest of the API", () => {
  it("turns a wrong key into a typed error and sends nothing to the route", async () => {
    const { client, fake } = setup({ apiKey: API_KEY.slice(0, -1) + "x" });
    await assert.rejects(client.fetch("/customers"), (e: unknown) => e instanceof AuthenticationError && e.code === "invalid_api_key" && e.type === "authentication_error");
    assert.equal(fake.count(CUSTOMERS), 0);
  });

  it("validates, revokes and closes", async () => {
    const { client, fake } = setup();
    const v = await client.validate();
    assert.ok(v.valid && v.keyId.startsWith("key_") && v.tokenType === "access_token" && v.expiresAt?.getUTCFullYear() === 2027);
    const access = await client.accessToken();
    await client.revokeToken(access);
    const [revoke] = fake.sentTo("POST /v1/auth/revoke");
    assert.equal(revoke!.auth, "Bearer " + API_KEY);
    assert.deepEqual(JSON.parse(revoke!.body), { token: access });
    await client.close();
    const revokes = fake.sentTo("POST /v1/auth/revoke");
    assert.equal(revokes.length, 2);
    assert.ok(JSON.parse(revokes[1]!.body).token.startsWith("kgr_"));
    await client.close(); // nothing held: nothing sent
    assert.equal(fake.sentTo("POST /v1/auth/revoke").length, 2);
  });

  for (const base of ["https://api.example.com", "https://api.example.com/", "https://api.example.com/v1", "https://api.example.com/v1/", "HTTPS://API.example.com:443/v1"]) {
    it(`takes the base URL with or without /v1: ${base}`, async () => {
      const { client, fake } = setup({ baseUrl: base });
      assert.equal((await client.request<{ path: string }>("GET", "/customers")).path, "/v1/customers");
      assert.equal((await client.request<{ path: string }>("GET", "/v1/customers")).path, "/v1/customers");
      assert.equal(fake.sentTo(TOKEN)[0]!.url, "https://api.example.com/v1/auth/token");
    });
  }

  it("keeps a path prefix", async () => {
    const { client, fake } = setup({ baseUrl: "https://gw.example.com/prod/v1" });
    assert.equal(client.baseUrl, "https://gw.example.com/prod");
    await client.fetch("/.well-known/jwks.json");
    await client.fetch("/customers");
    // The JWKS is on the API's origin, so it gets the token too (exchanged first).
    assert.deepEqual(fake.sent.map((s) => s.url), ["https://gw.example.com/prod/v1/auth/token", "https://gw.example.com/prod/.well-known/jwks.json", "https://gw.example.com/prod/v1/customers"]);
  });

  for (const base of ["ftp://api.example.com", "api.example.com", "https://", "https://user:pw@api.example.com", "https://api.example.com/?x=1", "https://api.example.com/#f", "https://api.example.com:99999"]) {
    it(`refuses the base URL ${base}`, () => {
      assert.throws(() => new KeygateClient({ baseUrl: base, apiKey: API_KEY }), TypeError);
    });
  }

  it("refuses an empty key", () => {
    assert.throws(() => new KeygateClient({ baseUrl: BASE, apiKey: "" }), TypeError);
  });

  it("takes a Request as input and replays its body", async () => {
    const { client, fake } = setup();
    const old = await client.accessToken();
    fake.revokeAccess(old);
    const resp = await client.fetch(new Request(BASE + "/v1/inference/completions", { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } }));
    assert.equal(resp.status, 200);
    assert.deepEqual(fake.sentTo("POST /v1/inference/completions").map((s) => s.body), ['{"a":1}', '{"a":1}']);
  });
});
