// The guides' JavaScript snippet against the real stack, the admin helpers, and the webhook
// vectors shared with shared/webhook (Go) both ways.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";

import { AuthenticationError, ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError } from "../../src/index.js";
import * as webhooks from "../../src/webhooks.js";
import { ADMIN_KEY, REFRESH_GRACE, ShiftClock, admin, client, newKey, raw, refusedWithinTheBound, skip, sleep } from "./stack.js";

describe("the guides' snippet against the stack", { skip }, () => {
  it("loses the login on its second refresh", async () => {
    const { key } = await newKey(["customers:read"]);
    const pair = (await raw("POST", "/v1/auth/token", key)).body;
    const kept = pair.refresh_token; // the guide keeps this one for ever
    const first = await raw("POST", "/v1/auth/refresh", "", { refresh_token: kept });
    assert.equal(first.status, 200);
    await sleep(REFRESH_GRACE + 500); // past the grace in which a retried refresh is forgiven
    const second = await raw("POST", "/v1/auth/refresh", "", { refresh_token: kept });
    assert.equal(second.status, 400);
    assert.equal(second.body.error.code, "invalid_grant");
    // The reuse revoked the family: the access token and the refresh token of the first refresh go too.
    await refusedWithinTheBound(first.body.access_token, Date.now());
    assert.equal((await raw("POST", "/v1/auth/refresh", "", { refresh_token: first.body.refresh_token })).body.error.code, "invalid_grant");
  });

  it("the client keeps the rotated token, and recovers when a spent one is replayed", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const clock = new ShiftClock();
    const { c, n } = client(key, { clock, refreshJitterMs: 0 });
    await c.fetch("/customers");
    const life = (await c.validate()).expiresAt!.getTime() - Date.now();
    for (let i = 0; i < 2; i++) {
      clock.advance(life);
      await c.fetch("/customers");
    }
    const presented = n.bodies.get("POST /v1/auth/refresh")!.map((b) => JSON.parse(b).refresh_token);
    assert.equal(new Set(presented).size, 2);
    await sleep(REFRESH_GRACE + 500);
    const replay = await raw("POST", "/v1/auth/refresh", "", { refresh_token: presented[0] });
    assert.equal(replay.body.error.code, "invalid_grant");
    await refusedWithinTheBound(await c.accessToken(), Date.now());
    const before = ["GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token"].map((k) => n.count(k));
    const echo = await c.request<{ authorizer: { key_id: string } }>("GET", "/customers");
    assert.equal(echo.authorizer.key_id, keyId);
    const after = ["GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token"].map((k) => n.count(k));
    assert.deepEqual(after.map((a, i) => a - before[i]!), [2, 1, 1], "one 401, one refused refresh, one exchange, one retry");
  });

  it("a revoked key ends in one typed error, not a retry loop", async () => {
    const { key, keyId } = await newKey(["customers:read"]);
    const { c, n } = client(key);
    await c.fetch("/customers");
    await admin().keys.revoke(keyId);
    await refusedWithinTheBound(await c.accessToken(), Date.now());
    const before = ["GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token"].map((k) => n.count(k));
    await assert.rejects(c.fetch("/customers"), (e: unknown) => e instanceof AuthenticationError && e.code === "invalid_api_key");
    const after = ["GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token"].map((k) => n.count(k));
    assert.deepEqual(after.map((a, i) => a - before[i]!), [1, 1, 1]);
  });
});

describe("admin helpers against the stack", { skip }, () => {
  it("drive the key lifecycle", async () => {
    const { c: a } = client(ADMIN_KEY);
    const name = "ts-admin-" + Date.now();
    const created = await a.keys.create({ name, scopes: ["billing:read"], rateLimit: 600, tier: "growth" });
    assert.ok(created.status === "active" && created.rateLimit === 600 && created.tier === "growth");
    assert.ok(created.secret.reveal().startsWith("kg_test_") && !JSON.stringify(created).includes(created.secret.reveal()));
    assert.equal((await client(created.secret.reveal()).c.validate()).keyId, created.keyId);
    assert.equal((await a.keys.update(created.keyId, { name: name + "-renamed" })).name, name + "-renamed");
    const got = await a.keys.get(created.keyId);
    assert.ok(got.name === name + "-renamed" && got.createdAt);
    const first = await a.keys.list({ limit: 1 });
    assert.ok(first.keys.length === 1 && first.nextCursor);
    const second = await a.keys.list({ limit: 1, cursor: first.nextCursor });
    assert.notEqual(second.keys[0]!.keyId, first.keys[0]!.keyId);
    let found = false;
    for await (const k of a.keys.iterate({ pageSize: 100 })) found ||= k.keyId === created.keyId;
    assert.ok(found);
    const rotated = await a.keys.rotate(created.keyId, { gracePeriodSeconds: 3600 });
    assert.ok(!rotated.secret.equals(created.secret) && rotated.keyGen === created.keyGen + 1 && rotated.previousKeyValidUntil);
    assert.equal((await a.keys.revoke(created.keyId)).status, "revoked");
    const actions: string[] = [];
    for await (const e of a.keys.iterateEvents(created.keyId, { pageSize: 2 })) actions.push(e.action);
    for (const want of ["key.created", "key.updated", "key.rotated", "key.revoked"]) assert.ok(actions.includes(want), actions.join());
    await assert.rejects(a.keys.update(created.keyId, { name: "again" }), (e: unknown) => e instanceof ConflictError && e.code === "key_revoked");
    await assert.rejects(a.keys.get("key_00000000000000000000"), NotFoundError);
  });

  it("refuse an unknown tier, and give a tier's rate limit to a key that names none", async () => {
    const { c: a } = client(ADMIN_KEY);
    await assert.rejects(a.keys.create({ name: "ts-tier-" + Date.now(), scopes: ["customers:read"], tier: "gold" }), (e: unknown) => e instanceof InvalidRequestError && e.code === "invalid_request" && /growth/.test(e.message));
    const k = await a.keys.create({ name: "ts-tier-" + Date.now(), scopes: ["customers:read"], tier: "free" });
    assert.deepEqual([k.tier, k.rateLimit], ["free", 60]);
    const moved = await a.keys.update(k.keyId, { tier: "growth" });
    assert.deepEqual([moved.tier, moved.rateLimit], ["growth", 10_000]);
    await a.keys.revoke(k.keyId);
  });

  it("read a key's usage: its calls per day in its tier's plan", async () => {
    const { c: a } = client(ADMIN_KEY);
    const created = await a.keys.create({ name: "ts-usage-" + Date.now(), scopes: ["customers:read"], tier: "free" });
    const { c: svc } = client(created.secret.reveal());
    for (let i = 0; i < 3; i++) assert.equal((await svc.fetch("/customers")).status, 200);
    const today = new Date().toISOString().slice(0, 10);
    const deadline = Date.now() + 10_000; // the service may count a moment late (on AWS, minutes)
    let u = await a.keys.usage(created.keyId, { days: 2 });
    while (u.used < 3 && Date.now() < deadline) {
      await sleep(500);
      u = await a.keys.usage(created.keyId, { days: 2 });
    }
    assert.deepEqual([u.keyId, u.tier], [created.keyId, "free"]);
    assert.deepEqual(u.plan, { name: "keygate-local-free", rateLimit: 60, burst: 60, quotaLimit: 10_000, quotaPeriod: "DAY" });
    assert.equal(u.days.length, 2);
    assert.ok([today, new Date().toISOString().slice(0, 10)].includes(u.days[1]!.date), JSON.stringify(u.days));
    assert.equal(u.used, 3, JSON.stringify(u.days)); // the three calls, and nothing else: the token exchange is not metered
    assert.equal(u.remaining, 10_000 - u.days[1]!.used);
    assert.equal(u.days[1]!.remaining, u.remaining);
    assert.equal((await a.keys.usage(created.keyId)).days.length, 7);
    await assert.rejects(a.keys.usage(created.keyId, { days: 91 }), RangeError);
    await a.keys.revoke(created.keyId);
    await assert.rejects(a.keys.usage(created.keyId), NotFoundError); // a revoked key has no usage plan any more
  });

  it("answer a key without admin:full with the typed 403", async () => {
    const { key } = await newKey(["customers:read"]);
    await assert.rejects(client(key).c.keys.list(), (e: unknown) => e instanceof PermissionDeniedError && e.requiredScope === "admin:full");
  });
});

describe("webhook vectors shared with shared/webhook", { skip }, () => {
  it("judges the deliveries the Go package signed as it judges them", { skip: process.env.KEYGATE_SDK_WEBHOOK_VECTORS ? false : "KEYGATE_SDK_WEBHOOK_VECTORS not set" }, () => {
    const { cases } = JSON.parse(readFileSync(process.env.KEYGATE_SDK_WEBHOOK_VECTORS!, "utf8")) as { cases: { name: string; secrets: string[]; headers: Record<string, string>; body_b64: string; valid: boolean; reason?: string }[] };
    assert.ok(cases.length >= 10);
    for (const c of cases) {
      let got: [boolean, string];
      try {
        new webhooks.Verifier(c.secrets).verify(c.headers, new Uint8Array(Buffer.from(c.body_b64, "base64")));
        got = [true, ""];
      } catch (e) {
        assert.ok(e instanceof webhooks.WebhookVerificationError, `${c.name}: ${e}`);
        got = [false, e.reason];
      }
      assert.deepEqual(got, [c.valid, c.reason ?? ""], c.name);
    }
  });

  it("writes deliveries signed here for the Go package to judge", { skip: process.env.KEYGATE_SDK_WEBHOOK_OUT ? false : "KEYGATE_SDK_WEBHOOK_OUT not set" }, () => {
    const [oldS, newS] = [webhooks.newSecret(), webhooks.newSecret()];
    const now = Math.floor(Date.now() / 1000);
    const body = new TextEncoder().encode('{"type":"key.rotated","data":{"name":"Zoë"}}');
    const bin = new Uint8Array([0, 0xff, 0x80]);
    const deliveries: { name: string; secrets: string[]; headers: Record<string, string>; body_b64: string; valid: boolean }[] = [];
    const add = (name: string, secrets: string[], headers: Record<string, string>, payload: Uint8Array, valid: boolean) =>
      deliveries.push({ name, secrets, headers, body_b64: Buffer.from(payload).toString("base64"), valid });
    const h = webhooks.signedHeaders(oldS, "msg_ts_1", now, body);
    add("signed with the only secret", [oldS], h, body, true);
    add("signed with the old secret, verified during a rotation", [newS, oldS], h, body, true);
    add("a binary body", [newS], webhooks.signedHeaders(newS, "msg_ts_2", now, bin), bin, true);
    add("an empty body", [newS], webhooks.signedHeaders(newS, "msg_ts_3", now - 120, new Uint8Array()), new Uint8Array(), true);
    add("a tampered body", [oldS], h, new Uint8Array([...body, 0x20]), false);
    add("verified with another secret", [newS], h, body, false);
    add("a stale timestamp", [oldS], webhooks.signedHeaders(oldS, "msg_ts_4", now - 400, body), body, false);
    add("another id", [oldS], { ...h, "webhook-id": "msg_ts_other" }, body, false);
    writeFileSync(process.env.KEYGATE_SDK_WEBHOOK_OUT!, JSON.stringify({ deliveries }));
    for (const d of deliveries) {
      let ok = true;
      try {
        new webhooks.Verifier(d.secrets).verify(d.headers, new Uint8Array(Buffer.from(d.body_b64, "base64")));
      } catch {
        ok = false;
      }
      assert.equal(ok, d.valid, d.name);
    }
  });
});
