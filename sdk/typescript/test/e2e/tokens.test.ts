// KeygateClient against the real stack: the token endpoints, the authorizer with its caches,
// the sample backend. A counting fetch under the client sees every request it sends.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import axios from "axios";

import { AuthenticationError, PermissionDeniedError, RateLimitError } from "../../src/index.js";
import { useKeygate } from "../../src/axios.js";
import { ADMIN_KEY, BASE, ShiftClock, admin, client, newKey, raw, refusedWithinTheBound, skip, sleep } from "./stack.js";

const TOKEN = "POST /v1/auth/token";
const REFRESH = "POST /v1/auth/refresh";
const CUSTOMERS = "GET /v1/customers";

type Echo = { authorizer: Record<string, string> };

describe("tokens against the stack", { skip }, () => {
  for (const suffix of ["", "/", "/v1", "/v1/"]) {
    it(`exchanges the key and calls a protected route, the base URL written "${suffix}"`, async () => {
      const { key, keyId } = await newKey(["customers:read", "billing:read"]);
      const { c, n } = client(key, { baseUrl: BASE + suffix, scopes: ["customers:read"], customerId: "cust-42" });
      const echo = await c.request<Echo>("GET", "/customers");
      assert.equal(echo.authorizer.key_id, keyId);
      assert.equal(echo.authorizer.scope, "customers:read");
      assert.equal(echo.authorizer.customer_id, "cust-42");
      assert.equal((await c.fetch("/v1/customers")).status, 200);
      assert.equal(n.count(TOKEN), 1);
      assert.equal(n.count(CUSTOMERS), 2);
      assert.deepEqual(n.auth.get(TOKEN), ["Bearer " + key], "the key goes to the token endpoint…");
      assert.ok(n.auth.get(CUSTOMERS)!.every((a) => a.startsWith("Bearer eyJ")), "…and nowhere else");
    });
  }

  it("answers a missing scope with a typed 403 naming it", async () => {
    const { key } = await newKey(["customers:read", "billing:read"]);
    const { c, n } = client(key, { scopes: ["customers:read"] });
    await assert.rejects(c.request("DELETE", "/customers/42"), (e: unknown) => e instanceof PermissionDeniedError && e.status === 403 && e.code === "insufficient_permissions" && e.requiredScope === "customers:delete");
    await assert.rejects(c.request("GET", "/billing"), (e: unknown) => e instanceof PermissionDeniedError && e.requiredScope === "billing:read");
    assert.equal(n.count(REFRESH), 0, "a 403 is not a reason to refresh");
  });

  it("turns a wrong key into a typed error, sending nothing to the route", async () => {
    const { key } = await newKey(["customers:read"]);
    const { c, n } = client(key.slice(0, -1) + (key.endsWith("x") ? "y" : "x"));
    await assert.rejects(c.fetch("/customers"), (e: unknown) => e instanceof AuthenticationError && e.code === "invalid_api_key" && e.status === 401);
    assert.equal(n.count(CUSTOMERS), 0);
  });

  it("validates", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const v = await client(key, { customerId: "cust-7" }).c.validate();
    assert.ok(v.valid && v.keyId === keyId && v.tokenType === "access_token" && v.customerId === "cust-7" && v.expiresAt);
    assert.deepEqual(v.scopes, ["customers:read"]);
  });

  it("refreshes before expiry, spending the rotated refresh token each time", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const clock = new ShiftClock();
    const { c, n } = client(key, { clock, refreshMarginMs: 60_000, refreshJitterMs: 0 });
    await c.fetch("/customers");
    const first = await c.accessToken();
    const expiresIn = (await c.validate()).expiresAt!.getTime() - Date.now();
    clock.advance(expiresIn - 30_000); // the client thinks it expires in 30 s
    const echo = await c.request<Echo>("GET", "/customers");
    const second = await c.accessToken();
    assert.equal(n.count(REFRESH), 1);
    assert.equal(n.count(TOKEN), 1);
    assert.notEqual(second, first);
    assert.equal(echo.authorizer.key_id, keyId);
    assert.equal(n.auth.get(CUSTOMERS)!.at(-1), "Bearer " + second);
    clock.advance(expiresIn);
    await c.fetch("/customers");
    assert.equal(n.count(REFRESH), 2);
    assert.equal(n.count(TOKEN), 1);
    const spent = n.bodies.get(REFRESH)!.map((b) => JSON.parse(b).refresh_token);
    assert.notEqual(spent[0], spent[1]);
  });

  it("costs a revoked token one 401, one refresh and one retry with the same body", async () => {
    const { key, keyId } = await newKey(["customers:read", "inference:write"]);
    const { c, n } = client(key);
    const body = { prompt: "hello", max_tokens: 5 };
    await c.request("POST", "/inference/completions", { json: body });
    const old = await c.accessToken();
    await c.revokeToken(old);
    await refusedWithinTheBound(old, Date.now(), "POST", "/v1/inference/completions", body);
    const route = "POST /v1/inference/completions";
    const before = n.count(route);
    const echo = await c.request<Echo>("POST", "/inference/completions", { json: body });
    assert.equal(echo.authorizer.key_id, keyId);
    assert.equal(n.count(route) - before, 2);
    assert.equal(n.count(REFRESH), 1);
    assert.equal(n.count(TOKEN), 1);
    const [b1, b2] = n.bodies.get(route)!.slice(-2);
    assert.equal(b1, JSON.stringify(body));
    assert.equal(b2, b1);
    const [a1, a2] = n.auth.get(route)!.slice(-2);
    assert.equal(a1, "Bearer " + old);
    assert.notEqual(a2, a1);
  });

  it("shares one exchange, then one refresh, among 50 concurrent callers", async () => {
    const { key } = await newKey(["customers:read"]);
    const clock = new ShiftClock();
    const { c, n } = client(key, { clock, refreshJitterMs: 0 });
    const round = async () => {
      const rs = await Promise.all(Array.from({ length: 50 }, () => c.fetch("/customers")));
      assert.ok(rs.every((r) => r.status === 200));
    };
    await round();
    assert.equal(n.count(TOKEN), 1);
    clock.advance((await c.validate()).expiresAt!.getTime() - Date.now() - 30_000);
    await round();
    assert.equal(n.count(REFRESH), 1);
    assert.equal(n.count(TOKEN), 1);
    assert.equal(n.count(CUSTOMERS), 100);
  });

  it("types a rate-limited exchange and retries it after Retry-After", async () => {
    let key = "";
    let done = false;
    for (let round = 0; round < 2 && !done; round++) {
      // A minute boundary between the requests restarts the window: once more.
      ({ key } = await newKey(["customers:read"], 1));
      await client(key).c.accessToken(); // the key's one request this minute
      const clock = new ShiftClock(true);
      const { c, n } = client(key, { clock, retry: { maxAttempts: 3, maxWaitMs: 60_000 } });
      try {
        await c.accessToken();
      } catch (e) {
        assert.ok(e instanceof RateLimitError && e.code === "rate_limit_exceeded" && e.retryAfter! >= 1 && e.retryAfter! <= 60, String(e));
        assert.equal(n.count(TOKEN), 3);
        assert.equal(clock.slept.length, 2);
        assert.ok(clock.slept.every((s) => s >= 1000 && s <= 60_000));
        done = true;
      }
    }
    assert.ok(done, "the rate limit never answered 429");
    const { c, n } = client(key, { clock: new ShiftClock(true), retry: { maxWaitMs: 500 } });
    await assert.rejects(c.accessToken(), (e: unknown) => e instanceof RateLimitError && e.retryAfter! >= 1);
    assert.equal(n.count(TOKEN), 1);
  });

  it("keeps an old key working through a rotation's grace, and not after", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const { c: old } = client(key);
    await old.fetch("/customers");
    const grace = 5; // seconds: long enough for the checks inside it on a loaded machine
    const rotated = await admin().keys.rotate(keyId, { gracePeriodSeconds: grace });
    const rotatedAt = Date.now();
    assert.ok(rotated.secret.reveal() !== key && rotated.previousKeyValidUntil);
    assert.equal((await old.fetch("/customers")).status, 200);
    assert.equal((await client(key).c.fetch("/customers")).status, 200);
    // The new secret works at once, on protected routes too: a warm authorizer re-reads a key
    // when a token names a newer generation than it has cached.
    const { c: fresh } = client(rotated.secret.reveal());
    assert.equal((await fresh.validate()).keyId, keyId);
    assert.equal((await fresh.fetch("/customers")).status, 200);
    assert.ok(Date.now() - rotatedAt < grace * 1000, "the machine is too slow for this test");
    await sleep(Math.max(0, rotatedAt + (grace + 1) * 1000 - Date.now()));
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await old.fetch("/customers");
      } catch (e) {
        assert.ok(e instanceof AuthenticationError && e.code === "invalid_api_key", String(e));
        break;
      }
      assert.ok(Date.now() < deadline, "the old key still works after its grace period");
      await sleep(300);
    }
    assert.equal((await fresh.fetch("/customers")).status, 200);
  });

  it("ends its login on close", async () => {
    const { key } = await newKey(["customers:read"]);
    const { c, n } = client(key);
    await c.fetch("/customers");
    const access = await c.accessToken();
    await c.close();
    const [sent] = n.bodies.get("POST /v1/auth/revoke")!;
    const refresh = JSON.parse(sent!).token;
    assert.ok(refresh.startsWith("kgr_"));
    const r = await raw("POST", "/v1/auth/refresh", "", { refresh_token: refresh });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_grant");
    await refusedWithinTheBound(access, Date.now());
  });

  it("drives axios through the interceptor", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const { c, n } = client(key);
    const api = axios.create({ baseURL: BASE + "/v1" });
    useKeygate(api, c);
    assert.equal((await api.get("/customers")).data.authorizer.key_id, keyId);
    const old = await c.accessToken();
    await c.revokeToken(old);
    await refusedWithinTheBound(old, Date.now());
    assert.equal((await api.get("/customers")).status, 200);
    assert.equal(n.count(REFRESH), 1);
    await assert.rejects(api.delete("/customers/1"), (e: { response?: { status: number; data: { error: { required_scope: string } } } }) => e.response?.status === 403 && e.response.data.error.required_scope === "customers:delete");
  });

  it("logs nothing secret", async () => {
    const { key } = await newKey(["customers:read"]);
    const logged: string[] = [];
    const log = (m: string, f?: Record<string, unknown>) => void logged.push(m + " " + JSON.stringify(f ?? {}));
    const clock = new ShiftClock();
    const { c } = client(key, { clock, refreshJitterMs: 0, logger: { debug: log, info: log, warn: log } });
    await c.fetch("/customers");
    const first = await c.accessToken();
    clock.advance((await c.validate()).expiresAt!.getTime() - Date.now() - 30_000);
    await c.fetch("/customers");
    const second = await c.accessToken();
    assert.ok(logged.length >= 2);
    for (const s of [key, first, second, ADMIN_KEY]) assert.ok(!logged.some((l) => l.includes(s)) && !String(c).includes(s));
  });
});
