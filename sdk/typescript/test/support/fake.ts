// A fake keygate service (a fetch function, and the same behind a real HTTP server) and a
// manual clock, for the unit tests.
//
// The fake keeps the service's token rules the client depends on: the API key exchanged at
// /v1/auth/token, refresh tokens single use with rotation, a spent one presented again revoking
// its whole family (the access tokens minted in it included); protected routes answer 401 for
// unknown or revoked tokens. Answers can be scripted per route to inject 3xx/401/429/503. The
// admin API keeps the service's tiers: an unknown tier is a 400, a key without rate_limit gets
// its tier's, and usage is reported per day from what a test records (recordUsage).

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { Clock } from "../../src/core.js";

export const API_KEY = "kg_test_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + "_x9Y8z7";
export const ADMIN_KEY = "kg_test_" + "Z1y2X3w4V5u6T7s8R9q0P1o2N3m4L5k6J7i8" + "_a1B2c3";
export const BASE = "https://api.example.com";

/** The template's tiers: rate_limit per minute, burst, quota, quota period (docs/usage-plans.md). */
export const TIERS: Record<string, { rate: number; burst: number; quota: number; period: "DAY" | "WEEK" | "MONTH" }> = {
  free: { rate: 60, burst: 60, quota: 10_000, period: "DAY" },
  startup: { rate: 1_000, burst: 1_000, quota: 1_000_000, period: "MONTH" },
  growth: { rate: 10_000, burst: 5_000, quota: 20_000_000, period: "MONTH" },
  enterprise: { rate: 100_000, burst: 5_000, quota: 500_000_000, period: "MONTH" },
};
export const DEFAULT_TIER = "startup";
/** The fake's today (UTC), for usage. */
export const TODAY = "2026-01-15";

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** API Gateway's quota periods start at midnight, on Sunday, on the 1st (UTC). */
function periodStart(day: string, period: string): string {
  const t = Date.parse(day + "T00:00:00Z");
  if (period === "DAY") return day;
  if (period === "WEEK") return isoDay(t - new Date(t).getUTCDay() * DAY_MS);
  return day.slice(0, 8) + "01";
}

const unknownTier = () => error(400, "invalid_request", `tier must be one of ${Object.keys(TIERS).join(", ")} (each is a usage plan of this stage).`);

export class ManualClock implements Clock {
  t: number;
  slept: number[] = [];
  constructor(start = 1_800_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.slept.push(ms);
    this.t += ms;
  }
}

export interface Sent {
  method: string;
  url: string;
  path: string;
  auth: string;
  body: string;
}

interface Family {
  revoked: boolean;
}

export type Answer = Response | ((req: Request) => Response | Promise<Response>);

export function error(status: number, code: string, message = "x", type = "invalid_request_error", extra: Record<string, unknown> = {}): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (typeof extra.retry_after === "number") headers["retry-after"] = String(extra.retry_after);
  return new Response(JSON.stringify({ error: { code, message, type, ...extra } }), { status, headers });
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

const token = (n: number) => randomBytes(n).toString("base64url");

export class FakeKeygate {
  apiKeys = new Set([API_KEY, ADMIN_KEY]);
  expiresIn = 900;
  delayMs = 0;
  scripts = new Map<string, Answer[]>();
  sent: Sent[] = [];
  calls = new Map<string, number>();
  refresh = new Map<string, { family: Family; spent: boolean }>();
  access = new Map<string, Family>();
  keys = new Map<string, Record<string, unknown>>();
  events = new Map<string, Record<string, unknown>[]>();
  /** "keyId day" → calls. */
  usage = new Map<string, number>();

  script(route: string, ...answers: Answer[]): void {
    this.scripts.set(route, [...(this.scripts.get(route) ?? []), ...answers]);
  }

  count(route: string): number {
    return this.calls.get(route) ?? 0;
  }

  sentTo(route: string): Sent[] {
    return this.sent.filter((s) => `${s.method} ${s.path}` === route);
  }

  revokeAccess(t: string): void {
    this.access.set(t, { revoked: true });
  }

  recordUsage(keyId: string, day: string, calls: number): void {
    this.usage.set(`${keyId} ${day}`, (this.usage.get(`${keyId} ${day}`) ?? 0) + calls);
  }

  /** The fake as a fetch function. */
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const body = await req.clone().text();
    const url = new URL(req.url);
    const route = `${req.method} ${url.pathname}`;
    this.calls.set(route, this.count(route) + 1);
    this.sent.push({ method: req.method, url: req.url, path: url.pathname, auth: req.headers.get("authorization") ?? "", body });
    if (this.delayMs && url.pathname.startsWith("/v1/auth/")) await new Promise((r) => setTimeout(r, this.delayMs));
    const queued = this.scripts.get(route);
    const answer = queued?.shift();
    if (answer) return typeof answer === "function" ? answer(req) : answer;
    return this.answer(req, url, body);
  };

  private answer(req: Request, url: URL, body: string): Response {
    const path = url.pathname;
    if (path.endsWith("/v1/auth/token")) {
      const auth = req.headers.get("authorization") ?? "";
      if (!auth.startsWith("Bearer ") || !this.apiKeys.has(auth.slice(7))) return error(401, "invalid_api_key", "The API key is invalid.", "authentication_error");
      return this.pair({ revoked: false });
    }
    if (path.endsWith("/v1/auth/refresh")) {
      const t = JSON.parse(body).refresh_token;
      const e = this.refresh.get(t);
      if (!e) return error(400, "invalid_grant", "The refresh token is invalid.");
      if (e.spent || e.family.revoked) {
        e.family.revoked = true; // reuse: the whole family goes
        return error(400, "invalid_grant", "The refresh token was already used; its login is revoked.");
      }
      e.spent = true;
      return this.pair(e.family);
    }
    if (path.endsWith("/v1/auth/revoke")) {
      const t = JSON.parse(body).token;
      const r = this.refresh.get(t);
      if (r) r.family.revoked = true;
      else if (this.access.has(t)) this.access.set(t, { revoked: true });
      return json(200, {});
    }
    const auth = req.headers.get("authorization") ?? "";
    const fam = auth.startsWith("Bearer ") ? this.access.get(auth.slice(7)) : undefined;
    if (!fam || fam.revoked) return error(401, "invalid_token", "The access token is invalid or revoked.", "authentication_error");
    if (path.endsWith("/v1/auth/validate")) {
      return json(200, { valid: true, key_id: "key_01234567890123456789", scopes: ["customers:read"], rate_limit: 1000, token_type: "access_token", expires_at: "2027-01-15T08:00:00Z" });
    }
    if (path.includes("/v1/keys")) return this.admin(req, url, body);
    return json(200, { message: "authorized", path, method: req.method, body: body ? JSON.parse(body) : null, authorizer: { key_id: "key_01234567890123456789" } });
  }

  private pair(family: Family): Response {
    const access = "eyJ" + token(24);
    const refresh = "kgr_" + token(32).slice(0, 43);
    this.access.set(access, family);
    this.refresh.set(refresh, { family, spent: false });
    return json(200, { access_token: access, token_type: "Bearer", expires_in: this.expiresIn, refresh_token: refresh, scope: "customers:read" }, { "cache-control": "no-store" });
  }

  private admin(req: Request, url: URL, body: string): Response {
    const parts = url.pathname.replace(/^\/+|\/+$/g, "").split("/"); // v1 keys [id [rotate|events]]
    const b = body ? JSON.parse(body) : {};
    if (parts.length === 2 && req.method === "POST") {
      const tier = b.tier ?? DEFAULT_TIER;
      if (!TIERS[tier]) return unknownTier();
      const id = "key_" + randomBytes(10).toString("hex");
      const k = { key_id: id, name: b.name, scopes: b.scopes, allowed_ips: b.allowed_ips ?? [], rate_limit: b.rate_limit ?? TIERS[tier].rate, tier, status: "active", key_gen: 1, created_at: "2026-01-15T08:00:00Z" };
      this.keys.set(id, k);
      this.events.set(id, [{ time: "2026-01-15T08:00:00Z", action: "key.created", key_id: id }]);
      return json(201, { ...k, key: "kg_test_" + randomBytes(18).toString("hex") + "_abcdef", warning: "store it" });
    }
    if (parts.length === 2 && req.method === "GET") {
      const ids = [...this.keys.keys()].sort();
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const start = url.searchParams.has("cursor") ? ids.indexOf(url.searchParams.get("cursor")!) : 0;
      const out: Record<string, unknown> = { data: ids.slice(start, start + limit).map((i) => this.keys.get(i)) };
      if (start + limit < ids.length) out.next_cursor = ids[start + limit];
      return json(200, out);
    }
    const id = decodeURIComponent(parts[2] ?? "");
    const k = this.keys.get(id);
    if (!k) return error(404, "not_found", "No key with that id.");
    const evs = this.events.get(id)!;
    if (parts.length === 3 && req.method === "GET") return json(200, k);
    if (parts.length === 3 && req.method === "PATCH") {
      if (k.status === "revoked") return error(409, "key_revoked", "The key is revoked.");
      if (b.tier !== undefined) {
        if (!TIERS[b.tier]) return unknownTier();
        b.rate_limit ??= TIERS[b.tier]!.rate;
      }
      Object.assign(k, b);
      evs.unshift({ time: "2026-01-15T08:01:00Z", action: "key.updated", key_id: id });
      return json(200, k);
    }
    if (parts.length === 3 && req.method === "DELETE") {
      k.status = "revoked";
      evs.unshift({ time: "2026-01-15T08:02:00Z", action: "key.revoked", key_id: id });
      return json(200, k);
    }
    if (parts[3] === "usage" && req.method === "GET") return this.usageOf(k, url.searchParams.get("days") ?? "7");
    if (parts[3] === "rotate") {
      k.key_gen = (k.key_gen as number) + 1;
      const grace = b.grace_period_seconds ?? 86400;
      evs.unshift({ time: "2026-01-15T08:01:30Z", action: "key.rotated", key_id: id });
      return json(200, { ...k, key: "kg_test_" + randomBytes(18).toString("hex") + "_fedcba", warning: "store it", ...(grace ? { previous_key_valid_until: "2026-01-16T08:00:00Z" } : {}) });
    }
    if (parts[3] === "events") {
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const start = Number(url.searchParams.get("cursor") ?? 0);
      const out: Record<string, unknown> = { data: evs.slice(start, start + limit) };
      if (start + limit < evs.length) out.next_cursor = String(start + limit);
      return json(200, out);
    }
    return error(405, "method_not_allowed", "No.");
  }

  /** GET /v1/keys/{id}/usage as the service answers it. */
  private usageOf(k: Record<string, unknown>, daysParam: string): Response {
    if (!/^[0-9]+$/.test(daysParam) || Number(daysParam) < 1 || Number(daysParam) > 90) return error(400, "invalid_request", "days must be a whole number from 1 to 90.");
    if (k.status === "revoked") return error(404, "not_found", "The key has no usage plan (revoked, expired, or made before usage plans: authctl keys sync adds it).");
    const [id, tier, rate] = [k.key_id as string, k.tier as string, k.rate_limit as number];
    const t = TIERS[tier]!;
    const own = rate !== t.rate;
    const plan = { name: `keygate-local-${tier}${own ? `-${rate}pm` : ""}`, rate_limit: rate, burst: own ? Math.min(rate, 5_000) : t.burst, quota_limit: t.quota, quota_period: t.period };
    const today = Date.parse(TODAY + "T00:00:00Z");
    const days: { date: string; used: number; remaining: number }[] = [];
    for (let i = Number(daysParam) - 1; i >= 0; i--) {
      const day = isoDay(today - i * DAY_MS);
      const from = periodStart(day, t.period);
      let spent = 0;
      for (const [key, calls] of this.usage) {
        const [kid, d] = key.split(" ");
        if (kid === id && d! >= from && d! <= day) spent += calls;
      }
      days.push({ date: day, used: this.usage.get(`${id} ${day}`) ?? 0, remaining: t.quota - spent });
    }
    return json(200, { key_id: id, tier, plan, days, remaining: days.at(-1)!.remaining }, { "cache-control": "no-store" });
  }
}

/** A handler behind a real HTTP server on 127.0.0.1 (its URL's host is "127.0.0.1"). */
export async function serve(handler: (req: Request) => Promise<Response>): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const addr = server.address() as AddressInfo;
    const request = new Request(`http://127.0.0.1:${addr.port}${req.url}`, { method: req.method, headers, body: body.length && req.method !== "GET" && req.method !== "HEAD" ? body : undefined });
    const resp = await handler(request);
    const out: Record<string, string> = {};
    resp.headers.forEach((v, k) => (out[k] = v));
    res.writeHead(resp.status, out);
    res.end(Buffer.from(await resp.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
