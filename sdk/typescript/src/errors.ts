import type { ErrorCode } from "./codes.js";

/**
 * A non-2xx answer of the keygate service, in its one error shape
 * `{"error":{"code","message","type"[,"required_scope"][,"retry_after"]}}`. It never holds the
 * request's credentials or body. The class says what kind of failure it is
 * (`instanceof RateLimitError`); `code` says exactly which.
 */
export class KeygateError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The service's error code; undefined when the body was not keygate's error shape. */
  readonly code: ErrorCode | (string & {}) | undefined;
  /** The service's error type, e.g. "authentication_error". */
  readonly type: string | undefined;
  /** The scope the route needs (403 insufficient_permissions). */
  readonly requiredScope: string | undefined;
  /** Seconds to wait before retrying (429, 503), from Retry-After or the body. */
  readonly retryAfter: number | undefined;

  constructor(fields: { status: number; code?: string; message?: string; type?: string; requiredScope?: string; retryAfter?: number }) {
    const message = fields.message || reason(fields.status);
    let text = `keygate: ${fields.status}`;
    if (fields.code) text += ` ${fields.code}`;
    if (message) text += `: ${message}`;
    if (fields.requiredScope) text += ` (required_scope ${fields.requiredScope})`;
    if (fields.retryAfter !== undefined) text += ` (retry after ${fields.retryAfter} s)`;
    super(text);
    this.name = new.target.name;
    this.status = fields.status;
    this.code = fields.code;
    this.type = fields.type;
    this.requiredScope = fields.requiredScope;
    this.retryAfter = fields.retryAfter;
  }

  /** Whether retrying later may succeed (429, 503). */
  get temporary(): boolean {
    return this.status === 429 || this.status === 503;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, status: this.status, code: this.code, message: this.message, type: this.type, requiredScope: this.requiredScope, retryAfter: this.retryAfter };
  }
}

/** 400: the request is malformed or asks for something the key does not hold. */
export class InvalidRequestError extends KeygateError {}
/** 400 invalid_grant: the refresh token is unknown, spent, expired or revoked. */
export class InvalidGrantError extends InvalidRequestError {}
/** 401: the API key or token is missing, invalid, expired or revoked. */
export class AuthenticationError extends KeygateError {}
/** 403: the credential lacks the scope (`requiredScope`) or the caller's address, or its key has no usage plan (key_not_provisioned). */
export class PermissionDeniedError extends KeygateError {}
/** 404. */
export class NotFoundError extends KeygateError {}
/** 409: key_revoked, conflict, too_many_revoked_tokens or usage_plan_limit_reached. */
export class ConflictError extends KeygateError {}
/** 429: the key's rate limit is spent (rate_limit_exceeded), its quota for the period is used (quota_exceeded), or the stage is throttled; see `retryAfter`. */
export class RateLimitError extends KeygateError {}
/** 5xx: the service failed (internal_error, timeout). */
export class APIError extends KeygateError {}
/** 503: a dependency of the service failed; retry after `retryAfter` seconds. */
export class ServiceUnavailableError extends APIError {}

const byStatus: Record<number, typeof KeygateError> = {
  400: InvalidRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** A server's delay beyond this means "not now" to any caller; the cap keeps it finite. */
export const MAX_RETRY_AFTER = 24 * 3600;

const reasons: Record<number, string> = {
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
  500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

function reason(status: number): string {
  return reasons[status] ?? "";
}

/** Parses a Retry-After value: delay-seconds or an HTTP date (undefined when absent or bad). */
export function retryAfterHeader(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Math.min(Number(v), MAX_RETRY_AFTER);
  if (!/[A-Za-z]/.test(v)) return undefined;
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.min(Math.max((when - nowMs) / 1000, 0), MAX_RETRY_AFTER);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The KeygateError of a non-2xx answer (status, a header getter, the body text). */
export function parseError(status: number, header: (name: string) => string | null | undefined, body: string, nowMs: number): KeygateError {
  let code: string | undefined, message: string | undefined, type: string | undefined, requiredScope: string | undefined;
  let retryAfter: number | undefined;
  let doc: unknown;
  try {
    doc = body ? JSON.parse(body) : undefined;
  } catch {
    doc = undefined;
  }
  const e = doc && typeof doc === "object" ? (doc as { error?: unknown }).error : undefined;
  if (e && typeof e === "object") {
    const f = e as Record<string, unknown>;
    code = str(f.code);
    message = str(f.message);
    type = str(f.type);
    requiredScope = str(f.required_scope);
    if (typeof f.retry_after === "number" && f.retry_after > 0) retryAfter = Math.min(f.retry_after, MAX_RETRY_AFTER);
  }
  const h = retryAfterHeader(header("retry-after"), nowMs);
  if (h !== undefined) retryAfter = h;
  let cls = byStatus[status] ?? (status >= 500 ? APIError : KeygateError);
  if (code === "invalid_grant") cls = InvalidGrantError;
  return new cls({ status, code, message, type, requiredScope, retryAfter });
}

/**
 * Throws the KeygateError of a non-2xx Response (reading a clone of its body, so the caller
 * can still read it); returns the Response otherwise.
 */
export async function checkResponse(resp: Response): Promise<Response> {
  if (resp.ok) return resp;
  const text = await resp.clone().text().catch(() => "");
  throw parseError(resp.status, (n) => resp.headers.get(n), text, Date.now());
}
