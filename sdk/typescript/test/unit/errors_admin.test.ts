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
import { ADMIN_KEY, BASE, FakeKeygate } from "../support/fake.js";

const NOW = 1_800_000_000_000;
const body = (e: Record<string, unknown>) => JSON.stringify({ error: e });
const none = () => undefined;

describe("errors", () => {
  const table: [number, string, typeof KeygateError][] = [
    [400, "invalid_request", InvalidRequestError],
    [400, "invalid_grant", InvalidGrantError],
    [401, "invalid_api_key", AuthenticationError],
    [403, "insufficient_permissions", PermissionDeniedError],
    [404, "not_found", NotFoundError],
    [405, "method_not_allowed", KeygateError],
    [409, "key_revoked", ConflictError],
    [429, "rate_limit_exceeded", RateLimitError],
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
    assert.equal(CODES.length, 18);
    assert.equal(new Set(CODES).size, 18);
  });
});

describe("admin helpers", () => {
  it("create, list, iterate, get, update, rotate, revoke, events", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    const k = await admin.keys.create({ name: "billing-svc", scopes: ["billing:read"], rateLimit: 600, tier: "gold", allowedIps: ["10.0.0.0/8"], expiresAt: new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678)) });
    assert.deepEqual(JSON.parse(fake.sentTo("POST /v1/keys")[0]!.body), { name: "billing-svc", scopes: ["billing:read"], allowed_ips: ["10.0.0.0/8"], rate_limit: 600, tier: "gold", expires_at: "2030-01-02T03:04:05Z" });
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

  it("escapes key ids in paths", async () => {
    const fake = new FakeKeygate();
    const admin = new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY, fetch: fake.fetch });
    await assert.rejects(admin.keys.get("../auth/token"), NotFoundError);
    assert.ok(fake.sent.at(-1)!.url.endsWith("/v1/keys/..%2Fauth%2Ftoken"));
  });
});
