// Typed errors, and the admin helpers against the fake admin API.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  APIError,
  AuthenticationError,
  CODES,
  ConflictError,
  InvalidGrantError,
  InvalidRequestError,
  KeygateClient,
  KeygateError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  Secret,
  ServiceUnavailableError,
  checkResponse,
} from "../../src/index.js";
import { parseError, retryAfterHeader } from "../../src/errors.js";
import { ADMIN_KEY, BASE, FakeKeygate, TODAY, error } from "../support/fake.js";

const NOW = 1_800_000_000_000;
const body = (e: Record<string, unknown>) => JSON.stringify({ error: e });
const none = () => undefined;

describe("errors", () => {
  const table: [number, string, typeof KeygateError][] = [
    [400, "invalid_request", InvalidRequestError],
    [400, "invalid_grant", InvalidGrantError],
    [401, "invalid_api_key", AuthenticationError],
    [403, "insufficient_permissions", PermissionDeniedError],
    [403, "key_not_provisioned", PermissionDeniedError],
    [404, "not_found", NotFoundError],
    [405, "method_not_allowed", KeygateError],
    [409, "key_revoked", ConflictError],
    [409, "usage_plan_limit_reached", ConflictError],
    [429, "rate_limit_exceeded", RateLimitError],
    [429, "quota_exceeded", RateLimitError],
    [500, "internal_error", APIError],
    [503, "service_unavailable", ServiceUnavailableError],
    [504, "timeout", APIError],
  ];
  for (const [status, code, cls] of table) {
    it(`${status} ${code} is a ${cls.name}`, () => {
      const e = parseError(status, none, body({ code, message: "m", type: "t" }), NOW);
      assert.equal(e.constructor, cls);
      assert.ok(e instanceof KeygateError && e instanceof Error);
      assert.equal(e.code, code);
      assert.equal(e.status, status);
      assert.equal(e.name, cls.name);
    });
  }

  it("carries required_scope and retry_after, the header winning", () => {
    const e = parseError(403, none, body({ code: "insufficient_permissions", message: "m", type: "authorization_error", required_scope: "customers:delete" }), NOW);
    assert.equal(e.requiredScope, "customers:delete");
    assert.match(e.message, /customers:delete/);
    const r = parseError(429, (n) => (n === "retry-after" ? "12" : undefined), body({ code: "rate_limit_exceeded", message: "m", type: "t", retry_after: 30 }), NOW);
    assert.equal(r.retryAfter, 12);
    assert.ok(r.temporary);
  });

  it("makes a spent quota a RateLimitError naming its hour", () => {
    const e = parseError(429, (n) => (n === "retry-after" ? "3600" : undefined), body({ code: "quota_exceeded", message: "m", type: "rate_limit_error", retry_after: 3600 }), NOW);
    assert.ok(e instanceof RateLimitError && e.code === "quota_exceeded" && e.retryAfter === 3600);
  });

  it("reads every Retry-After form", () => {
    assert.equal(retryAfterHeader("0", NOW), 0);
    assert.equal(retryAfterHeader("17", NOW), 17);
    assert.equal(retryAfterHeader("soon", NOW), undefined);
    assert.equal(retryAfterHeader("-3", NOW), undefined);
    assert.equal(retryAfterHeader("99999999999", NOW), 86400);
    assert.equal(retryAfterHeader(new Date(NOW + 30_000).toUTCString(), NOW), 30);
  });

  it("makes an error of a body that is not the error shape", () => {
    const e = parseError(502, none, "<html>Bad Gateway</html>", NOW);
    assert.equal(e.constructor, APIError);
    assert.equal(e.code, undefined);
    assert.match(e.message, /Bad Gateway/);
  });

  it("checkResponse throws for a non-2xx Response and leaves its body readable", async () => {
    const resp = new Response(body({ code: "not_found", message: "m", type: "t" }), { status: 404 });
    await assert.rejects(checkResponse(resp), NotFoundError);
    assert.match(await resp.text(), /not_found/);
  });

  it("lists the service's codes", () => {
    assert.equal(CODES.length, 21);
    assert.equal(new Set(CODES).size, 21);
    for (const c of ["quota_exceeded", "key_not_provisioned", "usage_plan_limit_reached"] as const) assert.ok(CODES.includes(c));
  });
});

describe("admin helpers", () => {
  it("create, list, iterate, get, update, rotate, revoke, events", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    const k = await admin.keys.create({ name: "billing-svc", scopes: ["billing:read"], rateLimit: 600, tier: "growth", allowedIps: ["10.0.0.0/8"], expiresAt: new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678)) });
    assert.deepEqual(JSON.parse(fake.sentTo("POST /v1/keys")[0]!.body), { name: "billing-svc", scopes: ["billing:read"], allowed_ips: ["10.0.0.0/8"], rate_limit: 600, tier: "growth", expires_at: "2030-01-02T03:04:05Z" });
    assert.ok(k.secret instanceof Secret && k.secret.reveal().startsWith("kg_test_"));
    assert.equal(k.raw.key, k.secret.toString(), "raw holds the key redacted");
    assert.equal(k.createdAt?.toISOString(), "2026-01-15T08:00:00.000Z");
    const others = await Promise.all([1, 2, 3, 4].map((i) => admin.keys.create({ name: `svc-${i}`, scopes: ["customers:read"] })));
    const page = await admin.keys.list({ limit: 2 });
    assert.equal(page.keys.length, 2);
    assert.ok(page.nextCursor);
    const all: string[] = [];
    for await (const x of admin.keys.iterate({ pageSize: 2 })) all.push(x.keyId);
    assert.deepEqual(all.sort(), [k.keyId, ...others.map((o) => o.keyId)].sort());
    assert.equal((await admin.keys.get(k.keyId)).name, "billing-svc");
    const u = await admin.keys.update(k.keyId, { name: "renamed", allowedIps: [] });
    assert.deepEqual(JSON.parse(fake.sentTo(`PATCH /v1/keys/${k.keyId}`)[0]!.body), { name: "renamed", allowed_ips: [] });
    assert.equal(u.name, "renamed");
    await assert.rejects(admin.keys.update(k.keyId, {}), TypeError);
    const r = await admin.keys.rotate(k.keyId, { gracePeriodSeconds: 3600 });
    assert.deepEqual(JSON.parse(fake.sentTo(`POST /v1/keys/${k.keyId}/rotate`)[0]!.body), { grace_period_seconds: 3600 });
    assert.ok(!r.secret.equals(k.secret) && r.keyGen === 2 && r.previousKeyValidUntil);
    await admin.keys.rotate(k.keyId);
    assert.equal(fake.sentTo(`POST /v1/keys/${k.keyId}/rotate`)[1]!.body, "", "no body: the service's default grace");
    assert.equal((await admin.keys.revoke(k.keyId)).status, "revoked");
    await assert.rejects(admin.keys.update(k.keyId, { name: "again" }), (e: unknown) => e instanceof ConflictError && e.code === "key_revoked");
    await assert.rejects(admin.keys.get("key_00000000000000000000"), NotFoundError);
    const ev = await admin.keys.events(k.keyId, { limit: 2 });
    assert.deepEqual(ev.events.map((e) => e.action), ["key.revoked", "key.rotated"]);
    const actions: string[] = [];
    for await (const e of admin.keys.iterateEvents(k.keyId, { pageSize: 2 })) actions.push(e.action);
    assert.deepEqual(actions, ["key.revoked", "key.rotated", "key.rotated", "key.updated", "key.created"]);
  });

  it("give a key its tier's rate limit unless it names its own, and refuse an unknown tier", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    const k = await admin.keys.create({ name: "svc", scopes: ["customers:read"], tier: "free" });
    assert.deepEqual(JSON.parse(fake.sentTo("POST /v1/keys")[0]!.body), { name: "svc", scopes: ["customers:read"], tier: "free" });
    assert.deepEqual([k.tier, k.rateLimit], ["free", 60]);
    assert.equal((await admin.keys.create({ name: "default", scopes: ["customers:read"] })).tier, "startup");
    const moved = await admin.keys.update(k.keyId, { tier: "growth" });
    assert.deepEqual(JSON.parse(fake.sentTo(`PATCH /v1/keys/${k.keyId}`)[0]!.body), { tier: "growth" }, "the service picks the rate");
    assert.deepEqual([moved.tier, moved.rateLimit], ["growth", 10_000]);
    await assert.rejects(admin.keys.create({ name: "svc", scopes: ["customers:read"], tier: "gold" }), (e: unknown) => e instanceof InvalidRequestError && e.code === "invalid_request" && /free, startup, growth, enterprise/.test(e.message));
    fake.script("POST /v1/keys", error(409, "usage_plan_limit_reached", "No usage plan can be added for this rate_limit.", "invalid_request_error"));
    await assert.rejects(admin.keys.create({ name: "svc", scopes: ["customers:read"], rateLimit: 617 }), (e: unknown) => e instanceof ConflictError && e.code === "usage_plan_limit_reached" && !e.temporary);
  });

  it("usage reads the key's calls per day in its plan", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    const k = await admin.keys.create({ name: "svc", scopes: ["customers:read"], tier: "free" });
    fake.recordUsage(k.keyId, TODAY, 3);
    fake.recordUsage(k.keyId, "2026-01-14", 5);
    const u = await admin.keys.usage(k.keyId, { days: 3 });
    assert.ok(fake.sent.at(-1)!.url.endsWith(`/v1/keys/${k.keyId}/usage?days=3`));
    assert.deepEqual([u.keyId, u.tier], [k.keyId, "free"]);
    assert.deepEqual(u.plan, { name: "keygate-local-free", rateLimit: 60, burst: 60, quotaLimit: 10_000, quotaPeriod: "DAY" });
    assert.deepEqual(u.days, [
      { date: "2026-01-13", used: 0, remaining: 10_000 },
      { date: "2026-01-14", used: 5, remaining: 9_995 },
      { date: "2026-01-15", used: 3, remaining: 9_997 },
    ], "oldest first, today last");
    assert.equal(u.remaining, 9_997);
    assert.equal(u.used, 8);
    assert.equal(u.raw.remaining, 9_997);
    assert.equal((await admin.keys.usage(k.keyId)).days.length, 7);
    assert.ok(fake.sent.at(-1)!.url.endsWith("/usage?days=7"), "the default, sent explicitly");
    assert.equal((await admin.keys.usage(k.keyId, { days: 90 })).days.length, 90);
    const own = await admin.keys.create({ name: "own", scopes: ["customers:read"], tier: "growth", rateLimit: 600 });
    assert.deepEqual((await admin.keys.usage(own.keyId, { days: 1 })).plan, { name: "keygate-local-growth-600pm", rateLimit: 600, burst: 600, quotaLimit: 20_000_000, quotaPeriod: "MONTH" });
  });

  it("usage without a quota leaves remaining undefined", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    fake.script("GET /v1/keys/key_1/usage", new Response(JSON.stringify({ key_id: "key_1", tier: "internal", plan: { name: "keygate-local-internal", rate_limit: 600, burst: 600 }, days: [{ date: "2026-01-15", used: 2 }] }), { status: 200 }));
    const u = await admin.keys.usage("key_1", { days: 1 });
    assert.deepEqual([u.plan.quotaLimit, u.plan.quotaPeriod, u.remaining, u.days[0]!.remaining, u.days[0]!.used], [undefined, undefined, undefined, undefined, 2]);
  });

  for (const days of [0, 91, -1, 2.5, NaN, Infinity, "7" as unknown as number]) {
    it(`usage refuses days ${String(days)} before sending anything`, async () => {
      const fake = new FakeKeygate();
      const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
      await assert.rejects(admin.keys.usage("key_1", { days }), (e: unknown) => e instanceof RangeError && /1 to 90/.test(e.message));
      assert.equal(fake.sent.length, 0);
    });
  }

  it("usage of a key without a usage plan is NotFoundError", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    const k = await admin.keys.create({ name: "svc", scopes: ["customers:read"] });
    await admin.keys.revoke(k.keyId);
    await assert.rejects(admin.keys.usage(k.keyId), NotFoundError);
    await assert.rejects(admin.keys.usage("../auth/token"), NotFoundError);
    assert.ok(fake.sent.at(-1)!.url.endsWith("/v1/keys/..%2Fauth%2Ftoken/usage?days=7"));
  });

  it("escapes key ids in paths", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    await assert.rejects(admin.keys.get("../auth/token"), NotFoundError);
    assert.ok(fake.sent.at(-1)!.url.endsWith("/v1/keys/..%2Fauth%2Ftoken"));
  });
});
