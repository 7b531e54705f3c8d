// Webhook verification for receivers: Standard Webhooks (https://www.standardwebhooks.com), as
// keygate's Go package shared/webhook signs and verifies them.
//
// The signatures are computed and compared by the maintained `standardwebhooks` package; this
// module wraps it with keygate's defaults and rules:
// - the webhook-id, webhook-timestamp and webhook-signature headers, a timestamp within 5
//   minutes of now (either way), the raw body bytes;
// - headers checked as shared/webhook checks them before any HMAC: an id of 1 to 256 printable
//   ASCII characters, a timestamp of decimal digits, at most 32 signatures in 8 KiB, every v1
//   signature 32 bytes of base64 (a malformed one is refused, not skipped);
// - secrets `whsec_` + base64 of 16 to 64 bytes, checked when the Verifier is made;
// - rotation: a Verifier holds several secrets while one is rotated and accepts a delivery
//   signed by any of them.
//
// A Verifier never shows its secrets; errors say what is wrong with the delivery, never what
// the expected signature was. Replay protection within the 5 minutes (remembering webhook-ids)
// is the receiver's: keep the ids of processed deliveries.

import { Webhook, WebhookVerificationError as LibError } from "standardwebhooks";

export const HEADER_ID = "webhook-id";
export const HEADER_TIMESTAMP = "webhook-timestamp";
export const HEADER_SIGNATURE = "webhook-signature";
export const SECRET_PREFIX = "whsec_";
/** The standardwebhooks packages' fixed tolerance, and keygate's default. */
export const TOLERANCE_SECONDS = 5 * 60;

const MAX_ID_LEN = 256;
const MAX_SIGNATURE_LEN = 8 << 10;
const MAX_SIGNATURES = 32;
const MIN_SECRET_BYTES = 16;
const MAX_SECRET_BYTES = 64;

export type WebhookErrorReason = "missing_headers" | "invalid_headers" | "timestamp_too_old" | "timestamp_too_new" | "no_match";

const messages: Record<WebhookErrorReason, string> = {
  missing_headers: "missing webhook-id, webhook-timestamp or webhook-signature header",
  invalid_headers: "malformed webhook headers",
  timestamp_too_old: "timestamp too old",
  timestamp_too_new: "timestamp too far in the future",
  no_match: "no matching signature",
};

/** A delivery that does not verify; `reason` names why (as shared/webhook's errors do). */
export class WebhookVerificationError extends Error {
  readonly reason: WebhookErrorReason;
  constructor(reason: WebhookErrorReason) {
    super("webhook: " + messages[reason]);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

/** A secret that is not `whsec_` + base64 of 16 to 64 bytes (its value is not shown). */
export class InvalidSecretError extends TypeError {
  constructor() {
    super("webhook: invalid secret (want whsec_ followed by base64 of 16 to 64 bytes)");
    this.name = "InvalidSecretError";
  }
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(b: Uint8Array): string {
  let bin = "";
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin);
}

/** The key bytes of a secret: the base64 after an optional whsec_ prefix (padded or not), 16 to 64 bytes. */
export function decodeSecret(secret: string): Uint8Array {
  if (typeof secret !== "string") throw new InvalidSecretError();
  let s = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  s = s.replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) throw new InvalidSecretError();
  const key = fromBase64(s + "=".repeat((4 - (s.length % 4)) % 4));
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) throw new InvalidSecretError();
  return key;
}

/** A fresh random secret, whsec_ + the base64 of 32 bytes. */
export function newSecret(): string {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return SECRET_PREFIX + toBase64(b);
}

export type Body = Uint8Array | ArrayBuffer | string;

function bytes(body: Body): Uint8Array | string {
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof Uint8Array) return body;
  throw new TypeError("webhook: the body must be the raw bytes (or string) of the delivery");
}

function checkId(id: string): void {
  if (!id || id.length > MAX_ID_LEN || !/^[\x21-\x7e]+$/.test(id)) throw new WebhookVerificationError("invalid_headers");
}

const asDate = (t: Date | number): Date => (t instanceof Date ? t : new Date(Math.trunc(t) * 1000));

/** The webhook-signature value (`v1,<base64>`) of a delivery; timestamp as a Date or Unix seconds. */
export function sign(secret: string, msgId: string, timestamp: Date | number, body: Body): string {
  const key = decodeSecret(secret);
  checkId(msgId);
  return new Webhook(key, { format: "raw" }).sign(msgId, asDate(timestamp), bytes(body));
}

/** The three headers of a signed delivery (for senders and tests). */
export function signedHeaders(secret: string, msgId: string, timestamp: Date | number, body: Body): Record<string, string> {
  const ts = asDate(timestamp);
  return {
    [HEADER_ID]: msgId,
    [HEADER_TIMESTAMP]: String(Math.floor(ts.getTime() / 1000)),
    [HEADER_SIGNATURE]: sign(secret, msgId, ts, body),
  };
}

export type HeadersLike = Headers | Record<string, string | string[] | undefined> | Iterable<readonly [string, string]>;

function lower(headers: HeadersLike): Map<string, string> {
  const out = new Map<string, string>();
  const add = (k: string, v: string | string[] | undefined) => {
    const val = Array.isArray(v) ? v[0] : v;
    if (val !== undefined && !out.has(k.toLowerCase())) out.set(k.toLowerCase(), String(val));
  };
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    headers.forEach((v, k) => add(k, v));
  } else if (Symbol.iterator in Object(headers)) {
    for (const [k, v] of headers as Iterable<readonly [string, string]>) add(k, v);
  } else {
    for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) add(k, v);
  }
  return out;
}

/** The well-formed v1 entries of a webhook-signature value, as shared/webhook parses it. */
function v1Signatures(value: string): string[] {
  if (value.length > MAX_SIGNATURE_LEN) throw new WebhookVerificationError("invalid_headers");
  const entries = value.split(/\s+/).filter(Boolean);
  if (entries.length > MAX_SIGNATURES) throw new WebhookVerificationError("invalid_headers");
  const out: string[] = [];
  for (const entry of entries) {
    const comma = entry.indexOf(",");
    if (comma <= 0) throw new WebhookVerificationError("invalid_headers");
    if (entry.slice(0, comma) !== "v1") continue;
    if (!/^[A-Za-z0-9+/]{43}=$/.test(entry.slice(comma + 1))) throw new WebhookVerificationError("invalid_headers");
    out.push(entry);
  }
  if (out.length === 0) throw new WebhookVerificationError("no_match");
  return out;
}

function reasonOf(message: string): WebhookErrorReason {
  const m = message.toLowerCase();
  if (m.includes("too old")) return "timestamp_too_old";
  if (m.includes("too new")) return "timestamp_too_new";
  if (m.includes("missing")) return "missing_headers";
  if (m.includes("no matching")) return "no_match";
  return "invalid_headers";
}

/** Verifies deliveries against one or more secrets (several while a secret is rotated). */
export class Verifier {
  readonly #hooks: Webhook[];

  /** Empty entries in a list are ignored (an unset "previous secret" variable), not an empty list. */
  constructor(secrets: string | readonly string[]) {
    const given = typeof secrets === "string" ? [secrets] : secrets.filter((s) => s);
    if (given.length === 0) throw new TypeError("webhook: no secrets to verify with");
    this.#hooks = given.map((s) => new Webhook(decodeSecret(s), { format: "raw" }));
  }

  toString(): string {
    return `Verifier(secrets: ${this.#hooks.length} (redacted), tolerance: ${TOLERANCE_SECONDS}s)`;
  }

  toJSON(): string {
    return this.toString();
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /** Checks a delivery's headers against its raw body; throws WebhookVerificationError when it does not verify. */
  verify(headers: HeadersLike, body: Body): void {
    const h = lower(headers);
    const id = h.get(HEADER_ID) ?? "";
    const ts = h.get(HEADER_TIMESTAMP) ?? "";
    const sig = h.get(HEADER_SIGNATURE) ?? "";
    if (!id || !ts || !sig) throw new WebhookVerificationError("missing_headers");
    checkId(id);
    if (!/^[0-9]{1,12}$/.test(ts)) throw new WebhookVerificationError("invalid_headers");
    const now = Date.now() / 1000;
    if (Number(ts) < now - TOLERANCE_SECONDS) throw new WebhookVerificationError("timestamp_too_old");
    if (Number(ts) > now + TOLERANCE_SECONDS) throw new WebhookVerificationError("timestamp_too_new");
    const libHeaders = { [HEADER_ID]: id, [HEADER_TIMESTAMP]: ts, [HEADER_SIGNATURE]: v1Signatures(sig).join(" ") };
    const payload = bytes(body);
    for (const hook of this.#hooks) {
      try {
        hook.verify(payload, libHeaders, { jsonParse: false });
        return;
      } catch (e) {
        if (!(e instanceof LibError)) throw e;
        const reason = reasonOf(e.message);
        if (reason !== "no_match") throw new WebhookVerificationError(reason);
      }
    }
    throw new WebhookVerificationError("no_match");
  }
}

/** `new Verifier(secrets).verify(headers, body)`. */
export function verify(headers: HeadersLike, body: Body, ...secrets: string[]): void {
  new Verifier(secrets).verify(headers, body);
}
