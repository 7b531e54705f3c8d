// Helpers of the end-to-end suite. It runs against a real keygate stack: the local API Gateway,
// the real function binaries, the emulators. infra/test/sdk (make test) starts one and runs
// this suite with its address and an admin key in the environment:
//
//   KEYGATE_SDK_BASE_URL          the API (http://127.0.0.1:PORT)
//   KEYGATE_SDK_ADMIN_KEY         an admin:full API key
//   KEYGATE_SDK_REVOCATION_BOUND  seconds a revocation may take to reach every route
//   KEYGATE_SDK_REFRESH_GRACE     the stage's RefreshGrace in seconds
//   KEYGATE_SDK_WEBHOOK_VECTORS   deliveries signed by shared/webhook (Go), to verify here
//   KEYGATE_SDK_WEBHOOK_OUT       where to write deliveries signed here, for Go to verify
//
// Without KEYGATE_SDK_BASE_URL every test here is skipped.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { KeygateClient, type Clock, type KeygateClientOptions } from "../../src/index.js";

export const BASE = process.env.KEYGATE_SDK_BASE_URL ?? "";
export const ADMIN_KEY = process.env.KEYGATE_SDK_ADMIN_KEY ?? "";
export const REVOCATION_BOUND = Number(process.env.KEYGATE_SDK_REVOCATION_BOUND ?? 3) * 1000;
export const REFRESH_GRACE = Number(process.env.KEYGATE_SDK_REFRESH_GRACE ?? 2) * 1000;

/** node:test's skip option for the whole suite. */
export const skip = BASE && ADMIN_KEY ? false : "needs KEYGATE_SDK_BASE_URL and KEYGATE_SDK_ADMIN_KEY (make test runs this suite against the local stack)";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The real clock moved forward by an offset the test sets; its sleep is real or recorded only. */
export class ShiftClock implements Clock {
  offset = 0;
  slept: number[] = [];
  constructor(private readonly fakeSleep = false) {}
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    if (!this.fakeSleep) await sleep(ms);
  }
}

/** Counts requests by "METHOD /path" and keeps each one's Authorization and body. */
export class Counting {
  n = new Map<string, number>();
  auth = new Map<string, string[]>();
  bodies = new Map<string, string[]>();
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const k = `${req.method} ${new URL(req.url).pathname}`;
    this.n.set(k, this.count(k) + 1);
    this.auth.set(k, [...(this.auth.get(k) ?? []), req.headers.get("authorization") ?? ""]);
    this.bodies.set(k, [...(this.bodies.get(k) ?? []), req.body ? await req.clone().text() : ""]);
    return globalThis.fetch(req);
  };
  count(k: string): number {
    return this.n.get(k) ?? 0;
  }
}

export function client(apiKey: string, o: Partial<KeygateClientOptions> = {}): { c: KeygateClient; n: Counting } {
  const n = new Counting();
  return { c: new KeygateClient({ baseUrl: BASE, apiKey, fetch: n.fetch, ...o }), n };
}

let adminClient: KeygateClient | undefined;
export function admin(): KeygateClient {
  return (adminClient ??= new KeygateClient({ baseUrl: BASE, apiKey: ADMIN_KEY }));
}

/** Creates a key through the admin helpers; returns its secret and id. */
export async function newKey(scopes: string[], rateLimit = 100_000): Promise<{ key: string; keyId: string }> {
  const k = await admin().keys.create({ name: "ts-sdk-" + randomBytes(4).toString("hex"), scopes, rateLimit });
  return { key: k.secret.reveal(), keyId: k.keyId };
}

/** One request without the client (what a hand-written caller would send). */
export async function raw(method: string, path: string, bearer = "", json?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (bearer) headers.authorization = "Bearer " + bearer;
  if (json !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(BASE + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * Polls a protected route with token until the authorizer refuses it; fails past the bound
 * (plus slack). Poll the route the test calls next: API Gateway caches the authorizer's answer
 * per credential and route.
 */
export async function refusedWithinTheBound(token: string, since: number, method = "GET", path = "/v1/customers", json?: unknown): Promise<number> {
  for (;;) {
    const r = await raw(method, path, token, json);
    if (r.status === 401) return Date.now() - since;
    // A revoked key's usage plan goes at once: while API Gateway still holds the authorizer's
    // cached Allow, the call is refused with 403 key_not_provisioned (docs/usage-plans.md).
    if (r.status === 403) assert.equal(r.body?.error?.code, "key_not_provisioned");
    else assert.equal(r.status, 200);
    assert.ok(Date.now() - since < REVOCATION_BOUND + 5000, `still accepted ${Date.now() - since} ms after the revocation`);
    await sleep(200);
  }
}
