// The error codes the service answers with: the one list in shared/httpapi/codes.go, in its
// order. infra/test/sdk holds this list equal to the service's.
// BEGIN CODES
export const CODES = [
  "invalid_request",
  "invalid_api_key",
  "invalid_token",
  "token_expired",
  "invalid_scope",
  "invalid_grant",
  "insufficient_permissions",
  "ip_not_allowed",
  "rate_limit_exceeded",
  "quota_exceeded",
  "key_not_provisioned",
  "not_found",
  "method_not_allowed",
  "request_too_large",
  "key_revoked",
  "conflict",
  "too_many_revoked_tokens",
  "usage_plan_limit_reached",
  "service_unavailable",
  "timeout",
  "internal_error",
] as const;
// END CODES

/** One of the service's error codes. */
export type ErrorCode = (typeof CODES)[number];
