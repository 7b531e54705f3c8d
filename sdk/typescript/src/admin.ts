// The admin API for API keys (/v1/keys, needs admin:full), for scripts; and the values the
// service answers with.

import { redact } from "./core.js";

const inspect = Symbol.for("nodejs.util.inspect.custom");

/**
 * A credential the service returned (the plain key of a created or rotated API key). Printing
 * it in any way (String, template literals, JSON.stringify, console.log) shows a redacted form;
 * `reveal()` returns the value for the one place that must store it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  equals(other: Secret): boolean {
    return other instanceof Secret && other.#value === this.#value;
  }
  toString(): string {
    return redact(this.#value);
  }
  toJSON(): string {
    return redact(this.#value);
  }
  [inspect](): string {
    return `Secret(${redact(this.#value)})`;
  }
}

/** What GET /v1/auth/validate says about the client's credential. */
export interface Validation {
  valid: boolean;
  keyId: string;
  scopes: string[];
  rateLimit: number;
  tokenType: string; // "access_token" (or "api_key")
  tier: string;
  customerId: string;
  ownerId: string;
  expiresAt: Date | undefined;
}

/** An API key as the admin API shows it: never its secret, never a hash. */
export interface Key {
  keyId: string;
  name: string;
  ownerId: string;
  scopes: string[];
  allowedIps: string[];
  rateLimit: number;
  tier: string;
  status: string; // "active" or "revoked"
  keyGen: number;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  expiresAt: Date | undefined;
  lastUsedAt: Date | undefined;
  /** When the previous secret stops working after a rotation with grace. */
  previousKeyValidUntil: Date | undefined;
  /** The service's JSON answer (for a created or rotated key, with the secret redacted). */
  raw: Record<string, unknown>;
}

/** A key with its plain secret, returned once by create and rotate. */
export interface CreatedKey extends Key {
  secret: Secret;
  warning: string;
}

export interface KeyPage {
  keys: Key[];
  /** Pass as `cursor` for the next page; undefined on the last. */
  nextCursor: string | undefined;
}

/** One entry of a key's audit trail. */
export interface KeyEvent {
  time: Date | undefined;
  action: string; // key.created, token.issued, key.rotated, …
  keyId: string;
  actorKeyId: string;
  sourceIp: string;
  requestId: string;
  detail: string;
}

export interface EventPage {
  events: KeyEvent[];
  nextCursor: string | undefined;
}

/** The API Gateway usage plan a key is metered by: its tier's, or its own rateLimit's. */
export interface UsagePlan {
  /** keygate-<stage>-<tier>, or keygate-<stage>-<tier>-<N>pm for a key's own rate limit. */
  name: string;
  /** Requests per minute (the token bucket's refill). */
  rateLimit: number;
  /** The bucket's size. */
  burst: number;
  /** Requests per quotaPeriod; undefined when the plan has no quota. */
  quotaLimit: number | undefined;
  quotaPeriod: "DAY" | "WEEK" | "MONTH" | (string & {}) | undefined;
}

/** One UTC day of a key's calls in its plan. */
export interface UsageDay {
  /** YYYY-MM-DD (UTC). */
  date: string;
  used: number;
  /** The quota left after that day. */
  remaining: number | undefined;
}

/**
 * What GET /v1/keys/{id}/usage says: the key's calls per UTC day (oldest first) in the plan it
 * is in now, from API Gateway's usage data (which lags by a few minutes).
 */
export interface KeyUsage {
  keyId: string;
  tier: string;
  plan: UsagePlan;
  days: UsageDay[];
  /** The quota left in the current period; undefined when the plan has no quota. */
  remaining: number | undefined;
  /** The calls of every day reported. */
  used: number;
  /** The service's JSON answer. */
  raw: Record<string, unknown>;
}

/** The days GET /v1/keys/{id}/usage reports, ending today (UTC): the service's bounds and default. */
export const MAX_USAGE_DAYS = 90;
export const DEFAULT_USAGE_DAYS = 7;

export interface PageOptions {
  /** 1..100 (the service's default, 50, when unset). */
  limit?: number;
  cursor?: string;
}

export interface KeySpec {
  name: string;
  scopes: string[];
  ownerId?: string;
  allowedIps?: string[];
  /**
   * Requests per minute, on protected routes (the key's usage plan) and at the token endpoints;
   * the tier's when unset. One other than the tier's gets a usage plan of its own (409
   * usage_plan_limit_reached when no more can be made).
   */
  rateLimit?: number;
  /** One of the stage's tiers: free, startup (the default), growth, enterprise. */
  tier?: string;
  expiresAt?: Date;
}

/** The fields to change; those left out stay. `allowedIps: []` clears the allowlist. */
export interface KeyUpdate {
  name?: string;
  scopes?: string[];
  allowedIps?: string[];
  rateLimit?: number;
  /** A new tier without a rateLimit brings the new tier's rate limit. */
  tier?: string;
  expiresAt?: Date;
}

const s = (v: unknown): string => (typeof v === "string" ? v : "");
const n = (v: unknown): number => (typeof v === "number" ? v : 0);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
const time = (v: unknown): Date | undefined => {
  if (typeof v !== "string" || !v) return undefined;
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? undefined : t;
};
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === "object" ? (v as Record<string, unknown>) : {});
const optInt = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) ? v : undefined);

export function toValidation(v: unknown): Validation {
  const d = obj(v);
  return {
    valid: d.valid === true,
    keyId: s(d.key_id),
    scopes: strs(d.scopes),
    rateLimit: n(d.rate_limit),
    tokenType: s(d.token_type),
    tier: s(d.tier),
    customerId: s(d.customer_id),
    ownerId: s(d.owner_id),
    expiresAt: time(d.expires_at),
  };
}

function toKey(v: unknown): Key {
  const d = obj(v);
  return {
    keyId: s(d.key_id),
    name: s(d.name),
    ownerId: s(d.owner_id),
    scopes: strs(d.scopes),
    allowedIps: strs(d.allowed_ips),
    rateLimit: n(d.rate_limit),
    tier: s(d.tier),
    status: s(d.status),
    keyGen: n(d.key_gen),
    createdAt: time(d.created_at),
    updatedAt: time(d.updated_at),
    expiresAt: time(d.expires_at),
    lastUsedAt: time(d.last_used_at),
    previousKeyValidUntil: time(d.previous_key_valid_until),
    raw: d,
  };
}

function toCreatedKey(v: unknown): CreatedKey {
  const d = obj(v);
  const secret = new Secret(s(d.key));
  const k = toKey(d);
  const created: CreatedKey = { ...k, raw: { ...d, key: secret.toString() }, secret, warning: s(d.warning) };
  Object.defineProperty(created, inspect, {
    enumerable: false,
    value: () => `CreatedKey { keyId: ${created.keyId}, name: ${JSON.stringify(created.name)}, scopes: ${JSON.stringify(created.scopes)}, secret: ${secret} }`,
  });
  return created;
}

function toEvent(v: unknown): KeyEvent {
  const d = obj(v);
  return {
    time: time(d.time),
    action: s(d.action),
    keyId: s(d.key_id),
    actorKeyId: s(d.actor_key_id),
    sourceIp: s(d.source_ip),
    requestId: s(d.request_id),
    detail: s(d.detail),
  };
}

function toUsage(v: unknown): KeyUsage {
  const d = obj(v);
  const p = obj(d.plan);
  const days = (Array.isArray(d.days) ? d.days : []).map((x): UsageDay => {
    const y = obj(x);
    return { date: s(y.date), used: n(y.used), remaining: optInt(y.remaining) };
  });
  return {
    keyId: s(d.key_id),
    tier: s(d.tier),
    plan: { name: s(p.name), rateLimit: n(p.rate_limit), burst: n(p.burst), quotaLimit: optInt(p.quota_limit), quotaPeriod: s(p.quota_period) || undefined },
    days,
    remaining: optInt(d.remaining),
    used: days.reduce((sum, x) => sum + x.used, 0),
    raw: d,
  };
}

const rfc3339 = (t: Date): string => t.toISOString().replace(/\.\d{3}Z$/, "Z");

function page(path: string, p: PageOptions = {}): string {
  const q = new URLSearchParams();
  if (p.limit) q.set("limit", String(p.limit));
  if (p.cursor) q.set("cursor", p.cursor);
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

const keyPath = (id: string, suffix = ""): string => `/v1/keys/${encodeURIComponent(id)}${suffix}`;

/** How Keys reaches the service: a JSON request with the client's access token. */
export type ApiCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** The admin API for API keys; every method rejects with the service's KeygateError. */
export class Keys {
  readonly #call: ApiCall;
  constructor(call: ApiCall) {
    this.#call = call;
  }

  /** Creates a key; its secret (`.secret.reveal()`) is shown this once. */
  async create(spec: KeySpec): Promise<CreatedKey> {
    const body: Record<string, unknown> = { name: spec.name, scopes: [...spec.scopes] };
    if (spec.ownerId) body.owner_id = spec.ownerId;
    if (spec.allowedIps?.length) body.allowed_ips = [...spec.allowedIps];
    if (spec.rateLimit) body.rate_limit = spec.rateLimit;
    if (spec.tier) body.tier = spec.tier;
    if (spec.expiresAt) body.expires_at = rfc3339(spec.expiresAt);
    return toCreatedKey(await this.#call("POST", "/v1/keys", body));
  }

  /** One page of keys, newest first. */
  async list(p: PageOptions = {}): Promise<KeyPage> {
    const d = obj(await this.#call("GET", page("/v1/keys", p)));
    return { keys: (Array.isArray(d.data) ? d.data : []).map(toKey), nextCursor: s(d.next_cursor) || undefined };
  }

  /** Every key, following the pages. */
  async *iterate(p: { pageSize?: number } = {}): AsyncGenerator<Key> {
    let cursor: string | undefined;
    do {
      const pg = await this.list({ limit: p.pageSize, cursor });
      yield* pg.keys;
      cursor = pg.nextCursor;
    } while (cursor);
  }

  async get(keyId: string): Promise<Key> {
    return toKey(await this.#call("GET", keyPath(keyId)));
  }

  /** Changes the fields given. Taking a scope away ends the key's tokens. */
  async update(keyId: string, u: KeyUpdate): Promise<Key> {
    const body: Record<string, unknown> = {};
    if (u.name !== undefined) body.name = u.name;
    if (u.scopes !== undefined) body.scopes = [...u.scopes];
    if (u.allowedIps !== undefined) body.allowed_ips = [...u.allowedIps];
    if (u.rateLimit !== undefined) body.rate_limit = u.rateLimit;
    if (u.tier !== undefined) body.tier = u.tier;
    if (u.expiresAt !== undefined) body.expires_at = rfc3339(u.expiresAt);
    if (Object.keys(body).length === 0) throw new TypeError("keygate: update needs at least one field");
    return toKey(await this.#call("PATCH", keyPath(keyId), body));
  }

  /** A new secret for the key; the old one keeps working for gracePeriodSeconds (0 to 7 days; the service's default, one day, when unset). */
  async rotate(keyId: string, o: { gracePeriodSeconds?: number } = {}): Promise<CreatedKey> {
    const body = o.gracePeriodSeconds === undefined ? undefined : { grace_period_seconds: Math.trunc(o.gracePeriodSeconds) };
    return toCreatedKey(await this.#call("POST", keyPath(keyId, "/rotate"), body));
  }

  /** Revokes the key and every token minted from it (idempotent). */
  async revoke(keyId: string): Promise<Key> {
    return toKey(await this.#call("DELETE", keyPath(keyId)));
  }

  /** One page of the key's audit trail, newest first. */
  async events(keyId: string, p: PageOptions = {}): Promise<EventPage> {
    const d = obj(await this.#call("GET", page(keyPath(keyId, "/events"), p)));
    return { events: (Array.isArray(d.data) ? d.data : []).map(toEvent), nextCursor: s(d.next_cursor) || undefined };
  }

  async *iterateEvents(keyId: string, p: { pageSize?: number } = {}): AsyncGenerator<KeyEvent> {
    let cursor: string | undefined;
    do {
      const pg = await this.events(keyId, { limit: p.pageSize, cursor });
      yield* pg.events;
      cursor = pg.nextCursor;
    } while (cursor);
  }

  /**
   * The key's calls per UTC day for the last `days` days (1..90, today included; default 7) in
   * its usage plan, with the quota left. Rejects with a RangeError for other `days`, before
   * sending anything, and with NotFoundError when the key has no usage plan (revoked, expired,
   * or made before usage plans).
   */
  async usage(keyId: string, o: { days?: number } = {}): Promise<KeyUsage> {
    const days = o.days ?? DEFAULT_USAGE_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > MAX_USAGE_DAYS) {
      throw new RangeError(`keygate: days must be a whole number from 1 to ${MAX_USAGE_DAYS}, got ${String(days)}`);
    }
    return toUsage(await this.#call("GET", `${keyPath(keyId, "/usage")}?days=${days}`));
  }
}
