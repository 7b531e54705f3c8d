// What the client shares with the axios interceptor, without I/O: the base URL and the origins
// the credential may go to, the token state and when it is due, the retry decisions, redaction.

import { parseError } from "./errors.js";

/** The time source: `now` decides when a token is due, `sleep` waits between retries. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits ms milliseconds, or rejects with the signal's reason once it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** Bounds the retries of 429 and 503 answers (a 429 quota_exceeded is never retried). */
export interface RetryPolicy {
  /** Tries in all, the first included (default 4; 1 = no retry). */
  maxAttempts?: number;
  /** The longest single wait; a Retry-After above it is not waited for (default 30 000 ms). */
  maxWaitMs?: number;
  /** The first backoff ceiling when the answer names no delay (default 500 ms; doubled per retry, full jitter). */
  baseDelayMs?: number;
}

/** Where the client logs what it does; it never passes a credential. */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
}

type Origin = string; // "scheme://host:port", host lower-case, the port always spelt out

const defaultPorts: Record<string, string> = { "http:": "80", "https:": "443" };

/** The origin of an http(s) URL, undefined for anything else. */
export function originOf(url: string | URL): Origin | undefined {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(url) : url;
  } catch {
    return undefined;
  }
  const port = defaultPorts[u.protocol];
  if (port === undefined || !u.hostname) return undefined;
  return `${u.protocol}//${u.hostname.toLowerCase()}:${u.port || port}`;
}

function parseOrigin(s: string): Origin {
  let u: URL | undefined;
  try {
    u = new URL(s);
  } catch {
    u = undefined;
  }
  const o = u && originOf(u);
  if (!u || !o || u.username || u.password || (u.pathname !== "/" && u.pathname !== "") || u.search || u.hash || /[?#]/.test(s) || !/^https?:\/\/[^/]+\/?$/i.test(s)) {
    throw new TypeError(`keygate: ${JSON.stringify(s)} is not an origin such as https://api.example.com or https://api.example.com:8443`);
  }
  return o;
}

/** Where the service is: `root` is the base URL without a trailing /v1. */
export class Endpoint {
  readonly root: string;
  readonly origins: ReadonlySet<Origin>;

  constructor(baseUrl: string, apiOrigins: readonly string[] = []) {
    if (typeof baseUrl !== "string") throw new TypeError("keygate: baseUrl must be a string");
    let u: URL | undefined;
    try {
      u = /^https?:\/\//i.test(baseUrl.trim()) ? new URL(baseUrl.trim()) : undefined;
    } catch {
      u = undefined;
    }
    const base = u && originOf(u);
    if (!u || !base || u.username || u.password || u.search || u.hash || /[?#]/.test(baseUrl)) {
      throw new TypeError(`keygate: baseUrl must be http(s)://host[:port][/prefix][/v1], got ${JSON.stringify(baseUrl)}`);
    }
    let path = u.pathname.replace(/\/+$/, "");
    if (path.endsWith("/v1")) path = path.slice(0, -3);
    this.root = `${u.protocol}//${u.host}${path}`;
    const origins = new Set<Origin>([base]);
    const bad: string[] = [];
    for (const s of apiOrigins) {
      try {
        const o = parseOrigin(s);
        if (base.startsWith("https:") && !o.startsWith("https:")) {
          bad.push(`keygate: apiOrigins: ${JSON.stringify(s)} is plain http and the base URL is https: the credential would cross the network in clear text`);
        } else {
          origins.add(o);
        }
      } catch (e) {
        bad.push((e as Error).message);
      }
    }
    if (bad.length) throw new TypeError(bad.join("; "));
    this.origins = origins;
  }

  /**
   * An absolute URL for `path`. Absolute URLs are returned as they are; a path is relative to
   * the base URL: /v1/… and /.well-known/… as written, any other path under /v1 (so
   * /customers and /v1/customers are one route, as the base URL may have /v1 or not).
   */
  url(path: string): string {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) return path;
    if (!path.startsWith("/")) path = "/" + path;
    if (!(path === "/v1" || /^\/v1[/?]/.test(path) || path.startsWith("/.well-known/"))) path = "/v1" + path;
    return this.root + path;
  }

  credentialed(url: string | URL): boolean {
    const o = originOf(url);
    return o !== undefined && this.origins.has(o);
  }
}

/** What identifies the kind of credential, never its secret part. */
export function redact(s: string | undefined | null): string {
  if (!s) return "";
  if (s.startsWith("kg_live_") || s.startsWith("kg_test_")) return s.slice(0, 8) + "…[redacted]";
  if (s.startsWith("kgr_")) return "kgr_…[redacted]";
  if (s.startsWith("eyJ")) return "eyJ…[redacted]";
  return "[redacted]";
}

/** One access token with the refresh token that came with it. Replaced, never changed. */
export interface TokenState {
  readonly access: string;
  readonly refresh: string;
  readonly scope: string;
  readonly expiresAt: number; // ms
  readonly refreshAt: number; // ms
  readonly bad: boolean; // a protected route refused it: do not fall back to it
}

export function usable(st: TokenState | null, now: number): boolean {
  return st !== null && !st.bad && now < st.refreshAt;
}

export interface Settings {
  margin: number; // ms
  jitter: number; // ms
  retry: Required<RetryPolicy>;
  clock: Clock;
  random: () => number;
}

/** The token of a token endpoint's answer, due a margin (plus jitter) before it expires. */
export function stateFromGrant(doc: unknown, start: number, path: string, s: Settings): TokenState {
  const d = doc && typeof doc === "object" ? (doc as Record<string, unknown>) : undefined;
  const access = d?.access_token;
  const life = d?.expires_in;
  if (typeof access !== "string" || !access || typeof life !== "number" || !(life > 0)) {
    throw new Error(`keygate: ${path} answered without an access token or expires_in`);
  }
  const lifeMs = life * 1000;
  let lead = Math.min(s.margin, lifeMs / 2);
  const j = Math.min(s.jitter, lifeMs / 4);
  if (j > 0) lead += s.random() * j;
  return {
    access,
    refresh: typeof d?.refresh_token === "string" ? d.refresh_token : "",
    scope: typeof d?.scope === "string" ? d.scope : "",
    expiresAt: start + lifeMs,
    refreshAt: start + lifeMs - lead,
    bad: false,
  };
}

/**
 * Whether the answer to try number retries+1 is retried, and after how many ms: only 429 and
 * 503, within maxAttempts, after the service's Retry-After / retry_after when it gives one (not
 * at all when that exceeds maxWaitMs), else an exponential backoff with full jitter. Never a
 * 429 quota_exceeded: the key's quota for the day, week or month is spent, so no retry within
 * any sensible wait can succeed (its Retry-After, an hour, is a hint for schedulers, not a
 * delay to sleep).
 */
export function backoff(status: number, header: (n: string) => string | null | undefined, body: string, retries: number, s: Settings): number | undefined {
  const p = s.retry;
  if ((status !== 429 && status !== 503) || retries + 1 >= p.maxAttempts) return undefined;
  const err = parseError(status, header, body, s.clock.now());
  if (err.code === "quota_exceeded") return undefined;
  const named = err.retryAfter;
  if (named !== undefined && named * 1000 > p.maxWaitMs) return undefined;
  if (named) return named * 1000;
  const ceiling = Math.min(p.baseDelayMs * 2 ** Math.min(retries, 16), p.maxWaitMs);
  return s.random() * ceiling + 1;
}

/** After a refresh failed for another reason than invalid_grant: the held token, retried shortly, while it is good. */
export function keptAfterFailure(prev: TokenState, now: number): TokenState | undefined {
  if (prev.bad || now >= prev.expiresAt) return undefined;
  return { ...prev, refreshAt: now + Math.min(5000, (prev.expiresAt - now) / 2) };
}
