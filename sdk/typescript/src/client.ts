import { Keys, toValidation, type Validation } from "./admin.js";
import {
  Endpoint,
  backoff,
  keptAfterFailure,
  redact,
  stateFromGrant,
  systemClock,
  usable,
  type Clock,
  type Logger,
  type RetryPolicy,
  type Settings,
  type TokenState,
} from "./core.js";
import { InvalidGrantError, parseError } from "./errors.js";
import { internals } from "./internal.js";

const TOKEN_PATH = "/v1/auth/token";
const REFRESH_PATH = "/v1/auth/refresh";
const REVOKE_PATH = "/v1/auth/revoke";
const VALIDATE_PATH = "/v1/auth/validate";
const MAX_REDIRECTS = 20;

export interface KeygateClientOptions {
  /** `http(s)://host[:port][/prefix]`, with or without a trailing `/v1`. */
  baseUrl: string;
  /** The API key (`kg_live_…` / `kg_test_…`). It goes only to the token endpoints. */
  apiKey: string;
  /** Narrow the tokens to these scopes (a subset of the key's). */
  scopes?: string[];
  /** Tokens carry this customer id. */
  customerId?: string;
  /** Lifetime in seconds asked for on exchange (60 to the stage's maximum). */
  tokenTtl?: number;
  /** Refresh this long before expiry (default 60 000 ms; at most half a token's lifetime)… */
  refreshMarginMs?: number;
  /** …plus up to this much at random, so a fleet does not refresh in step (default 30 000 ms; at most a quarter). */
  refreshJitterMs?: number;
  /** Bounds the retries of 429 and 503. */
  retry?: RetryPolicy;
  /** More origins (`https://api2.example.com`) that get the access token. */
  apiOrigins?: string[];
  /** The fetch to send with (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Timeout of each of the client's own calls (token endpoints, validate, admin), default 30 000 ms. */
  timeoutMs?: number;
  /**
   * Who follows redirects of requests that carry the token. "client" (the default where the
   * runtime shows redirects to scripts: Node, Deno, Bun) follows them itself and drops the
   * token at the first hop off the API's origins; "runtime" (the default in browsers, which
   * hide redirects) leaves them to fetch, which drops Authorization on a cross-origin hop.
   */
  followRedirects?: "client" | "runtime";
  clock?: Clock;
  logger?: Logger;
  /** Random numbers in [0, 1) for jitter (tests). */
  random?: () => number;
}

const inspect = Symbol.for("nodejs.util.inspect.custom");

function runtimeShowsRedirects(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
  return Boolean(g.process?.versions?.node || g.Deno);
}

/** Whether fetch can send body again: no body, or one held in memory. */
function replayable(b: unknown): boolean {
  return (
    b == null ||
    typeof b === "string" ||
    b instanceof ArrayBuffer ||
    ArrayBuffer.isView(b) ||
    b instanceof URLSearchParams ||
    (typeof Blob !== "undefined" && b instanceof Blob) ||
    (typeof FormData !== "undefined" && b instanceof FormData)
  );
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal | null): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function discard(resp: Response): Promise<void> {
  try {
    await resp.body?.cancel();
  } catch {
    // already read or closed
  }
}

/**
 * A client of the keygate service for one API key.
 *
 * It exchanges the key for an access token on first use, keeps the token until a margin (with
 * jitter) before it expires, then spends the refresh token and keeps the rotated one it gets
 * back (refresh tokens are single use: presenting a spent one later revokes the whole login).
 * A refused refresh token (invalid_grant) falls back to a new exchange. Concurrent callers
 * share one exchange or refresh (one promise).
 *
 * `client.fetch` is a drop-in fetch: requests to the base URL's origin (scheme, host and
 * port; more with `apiOrigins`) carry the access token, others go out untouched. A 401 from
 * the API refreshes the token once and retries once when the body can be replayed; 429 and 503
 * are retried after the service's Retry-After within `retry`'s bounds.
 *
 * Neither the API key nor any token appears in what the client prints, throws or logs.
 */
export class KeygateClient {
  /** The admin API for keys (the client's key needs admin:full). */
  readonly keys: Keys;
  readonly #ep: Endpoint;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #s: Settings;
  readonly #log: Logger;
  readonly #exchangeBody: Record<string, unknown>;
  readonly #follow: "client" | "runtime";
  readonly #timeoutMs: number;
  #state: TokenState | null = null;
  #inflight: Promise<TokenState> | null = null;

  constructor(o: KeygateClientOptions) {
    if (!o || typeof o.apiKey !== "string" || !o.apiKey) throw new TypeError("keygate: empty API key");
    this.#ep = new Endpoint(o.baseUrl, o.apiOrigins ?? []);
    this.#apiKey = o.apiKey;
    const f = o.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("keygate: no fetch: pass options.fetch");
    this.#fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#s = {
      margin: Math.max(o.refreshMarginMs ?? 60_000, 0),
      jitter: Math.max(o.refreshJitterMs ?? 30_000, 0),
      retry: {
        maxAttempts: o.retry?.maxAttempts || 4,
        maxWaitMs: o.retry?.maxWaitMs || 30_000,
        baseDelayMs: o.retry?.baseDelayMs || 500,
      },
      clock: o.clock ?? systemClock,
      random: o.random ?? Math.random,
    };
    this.#log = o.logger ?? {};
    this.#exchangeBody = {};
    if (o.scopes?.length) this.#exchangeBody.scopes = [...o.scopes];
    if (o.customerId) this.#exchangeBody.customer_id = o.customerId;
    if (o.tokenTtl) this.#exchangeBody.expires_in = Math.trunc(o.tokenTtl);
    this.#follow = o.followRedirects ?? (runtimeShowsRedirects() ? "client" : "runtime");
    this.#timeoutMs = o.timeoutMs ?? 30_000;
    this.keys = new Keys((method, path, body) => this.#call(method, path, { body, withToken: true }));
    internals.set(this, {
      endpoint: this.#ep,
      settings: this.#s,
      log: this.#log,
      current: (signal) => this.#current(signal),
      invalidate: (access) => {
        if (this.#state?.access === access) this.#invalidate(this.#state);
      },
    });
  }

  /** The base URL without a trailing /v1. */
  get baseUrl(): string {
    return this.#ep.root;
  }

  toString(): string {
    return `KeygateClient(${this.#ep.root}, apiKey: ${redact(this.#apiKey)})`;
  }

  toJSON(): Record<string, string> {
    return { baseUrl: this.#ep.root, apiKey: redact(this.#apiKey) };
  }

  [inspect](): string {
    return this.toString();
  }

  // --- tokens ------------------------------------------------------------------------------

  /** A valid access token, exchanging or refreshing as needed. */
  async accessToken(signal?: AbortSignal): Promise<string> {
    return (await this.#current(signal)).access;
  }

  #current(signal?: AbortSignal | null): Promise<TokenState> {
    const st = this.#state;
    if (st && usable(st, this.#s.clock.now())) return Promise.resolve(st);
    if (!this.#inflight) {
      const p = this.#renew();
      this.#inflight = p;
      const done = () => {
        if (this.#inflight === p) this.#inflight = null;
      };
      p.then(done, done);
    }
    return abortable(this.#inflight, signal);
  }

  async #renew(): Promise<TokenState> {
    const prev = this.#state;
    const now = this.#s.clock.now();
    if (prev && usable(prev, now)) return prev;
    let next: TokenState | undefined;
    if (prev?.refresh) {
      try {
        next = await this.#grant(REFRESH_PATH, undefined, { refresh_token: prev.refresh });
        this.#log.debug?.("keygate: access token refreshed", { scope: next.scope });
      } catch (e) {
        if (e instanceof InvalidGrantError) {
          this.#log.info?.("keygate: refresh token refused, exchanging the API key again");
        } else {
          const kept = keptAfterFailure(prev, now);
          if (!kept) throw e;
          this.#state = kept;
          this.#log.warn?.("keygate: refresh failed, using the current token until it expires", { error: describe(e) });
          return kept;
        }
      }
    }
    if (!next) {
      next = await this.#grant(TOKEN_PATH, this.#apiKey, this.#exchangeBody);
      this.#log.debug?.("keygate: API key exchanged for an access token", { scope: next.scope });
    }
    this.#state = next;
    return next;
  }

  #invalidate(st: TokenState): void {
    if (this.#state === st) this.#state = { ...st, bad: true };
  }

  async #grant(path: string, bearer: string | undefined, body: unknown): Promise<TokenState> {
    const start = this.#s.clock.now();
    const doc = await this.#call("POST", path, { bearer, body, withToken: false });
    return stateFromGrant(doc, start, path, this.#s);
  }

  // --- the client's own calls ----------------------------------------------------------------

  /**
   * One JSON request of the client's own (token endpoints, validate, admin), never following
   * a redirect. Without the token it retries 429/503 itself; with it, the protected path does.
   */
  async #call(method: string, path: string, o: { bearer?: string; body?: unknown; withToken: boolean }): Promise<unknown> {
    const headers = new Headers({ accept: "application/json" });
    if (o.bearer) headers.set("authorization", `Bearer ${o.bearer}`);
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    if (body !== undefined) headers.set("content-type", "application/json");
    const url = this.#ep.url(path);
    for (let retries = 0; ; ) {
      const init: RequestInit = { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(this.#timeoutMs) };
      const resp = o.withToken ? await this.#protected(url, init) : await this.#fetch(url, init);
      const text = await resp.text();
      if (!o.withToken) {
        const wait = backoff(resp.status, (n) => resp.headers.get(n), text, retries, this.#s);
        if (wait !== undefined) {
          retries++;
          this.#log.info?.("keygate: retrying", { path, status: resp.status, waitMs: wait });
          await this.#s.clock.sleep(wait);
          continue;
        }
      }
      if (!resp.ok) throw parseError(resp.status, (n) => resp.headers.get(n), text, this.#s.clock.now());
      return text ? JSON.parse(text) : undefined;
    }
  }

  /**
   * Sends a request with the access token and returns its JSON answer (undefined when empty),
   * throwing KeygateError for a non-2xx one. `path` is absolute or a path: /customers and
   * /v1/customers both mean the route /v1/customers under the base URL.
   */
  async request<T = unknown>(method: string, path: string, o: { json?: unknown; headers?: HeadersInit; signal?: AbortSignal } = {}): Promise<T> {
    const headers = new Headers(o.headers);
    headers.set("accept", headers.get("accept") ?? "application/json");
    let body: string | undefined;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers.set("content-type", "application/json");
    }
    const resp = await this.fetch(this.#ep.url(path), { method, headers, body, signal: o.signal });
    const text = await resp.text();
    if (!resp.ok) throw parseError(resp.status, (n) => resp.headers.get(n), text, this.#s.clock.now());
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** What the service says about the client's access token (exchanging the key first if needed). */
  async validate(): Promise<Validation> {
    return toValidation(await this.#call("GET", VALIDATE_PATH, { withToken: true }));
  }

  /** Revokes an access token, or a refresh token and its whole login, of this client's key (RFC 7009). */
  async revokeToken(token: string): Promise<void> {
    await this.#call("POST", REVOKE_PATH, { bearer: this.#apiKey, body: { token }, withToken: false });
  }

  /** Revokes the client's login (its refresh token family), if it holds one, and forgets its tokens. */
  async close(): Promise<void> {
    const st = this.#state;
    this.#state = null;
    if (st?.refresh) await this.revokeToken(st.refresh);
  }

  // --- fetch ---------------------------------------------------------------------------------

  /**
   * A drop-in fetch (bound: pass it where a fetch is expected). A relative path is resolved
   * against the base URL as in `request`. Requests for the API's origins carry the access
   * token; all others are sent untouched.
   */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const url = isRequest ? (input as Request).url : input instanceof URL ? input.href : /^[a-z][a-z0-9+.-]*:/i.test(String(input)) ? String(input) : this.#ep.url(String(input));
    if (!this.#ep.credentialed(url)) return this.#fetch(isRequest ? (input as Request) : url, init);
    if (isRequest) {
      const r = input as Request;
      const body = r.body ? await r.clone().arrayBuffer() : undefined;
      init = { method: r.method, headers: r.headers, body, redirect: r.redirect, signal: r.signal, credentials: r.credentials, cache: r.cache, mode: r.mode, referrer: r.referrer, integrity: r.integrity, keepalive: r.keepalive, ...init };
    }
    return this.#protected(url, init ?? {});
  };

  /** A request to one of the API's origins, with the token, 401 and 429/503 handling. */
  async #protected(url: string, init: RequestInit): Promise<Response> {
    const signal = init.signal ?? undefined;
    const canReplay = replayable(init.body);
    let st = await this.#current(signal);
    let refreshed = false;
    for (let retries = 0; ; ) {
      const { resp, onOrigin } = await this.#send(url, init, st.access);
      if (!canReplay || !onOrigin) return resp;
      if (resp.status === 401 && !refreshed) {
        // Refused (revoked, or clocks disagree): one refresh, one retry. Callers holding the
        // same token share the refresh.
        refreshed = true;
        await discard(resp);
        this.#log.info?.("keygate: 401 from a protected route, refreshing the token and retrying once", { path: new URL(url).pathname });
        this.#invalidate(st);
        st = await this.#current(signal);
        continue;
      }
      if (resp.status === 429 || resp.status === 503) {
        const text = await resp.clone().text();
        const wait = backoff(resp.status, (n) => resp.headers.get(n), text, retries, this.#s);
        if (wait !== undefined) {
          retries++;
          await discard(resp);
          this.#log.info?.("keygate: retrying", { path: new URL(url).pathname, status: resp.status, waitMs: wait });
          await this.#s.clock.sleep(wait, signal);
          continue;
        }
      }
      return resp;
    }
  }

  /**
   * Sends one attempt with the token. In "client" mode redirects are followed here, the token
   * dropped at the first hop off the API's origins and never put back; onOrigin says whether
   * the answer came from a hop that still carried it.
   */
  async #send(url: string, init: RequestInit, token: string): Promise<{ resp: Response; onOrigin: boolean }> {
    const userRedirect = init.redirect ?? "follow";
    let headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    if (this.#follow === "runtime") {
      const resp = await this.#fetch(url, { ...init, headers });
      return { resp, onOrigin: this.#ep.credentialed(resp.url || url) && !resp.redirected };
    }
    let hopUrl = url;
    let method = (init.method ?? "GET").toUpperCase();
    let body = init.body;
    let onOrigin = true;
    for (let hops = 0; ; hops++) {
      const resp = await this.#fetch(hopUrl, { ...init, method, headers, body, redirect: "manual" });
      const location = resp.headers.get("location");
      if (userRedirect === "manual" || ![301, 302, 303, 307, 308].includes(resp.status) || !location || resp.type === "opaqueredirect") {
        return { resp, onOrigin };
      }
      if (userRedirect === "error") {
        await discard(resp);
        throw new TypeError("fetch failed: a redirect with redirect mode \"error\"");
      }
      if (hops >= MAX_REDIRECTS) {
        await discard(resp);
        throw new TypeError("fetch failed: too many redirects");
      }
      const next = new URL(location, hopUrl).href;
      if ((resp.status === 303 && method !== "GET" && method !== "HEAD") || ((resp.status === 301 || resp.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
        headers = new Headers(headers);
        for (const h of ["content-type", "content-length", "content-encoding", "content-language", "content-location"]) headers.delete(h);
      } else if (body != null && !replayable(body)) {
        return { resp, onOrigin }; // a 307/308 whose body cannot be sent again: the caller decides
      }
      if (onOrigin && !this.#ep.credentialed(next)) {
        onOrigin = false;
        headers = new Headers(headers);
        headers.delete("authorization");
      }
      await discard(resp);
      hopUrl = next;
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error && e.name.endsWith("Error") && e.message.startsWith("keygate:") ? e.message : e instanceof Error ? e.name : typeof e;
}
