"""Non-2xx answers become typed errors carrying the service's code and extras."""

from __future__ import annotations

import json

import pytest

import keygate
from keygate.errors import parse_error

NOW = 1_800_000_000.0


def body(**e):
    return json.dumps({"error": e}).encode()


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "invalid_request", keygate.InvalidRequestError),
        (400, "invalid_scope", keygate.InvalidRequestError),
        (400, "invalid_grant", keygate.InvalidGrantError),
        (401, "invalid_api_key", keygate.AuthenticationError),
        (401, "token_expired", keygate.AuthenticationError),
        (403, "insufficient_permissions", keygate.PermissionDeniedError),
        (403, "ip_not_allowed", keygate.PermissionDeniedError),
        (403, "key_not_provisioned", keygate.PermissionDeniedError),
        (404, "not_found", keygate.NotFoundError),
        (405, "method_not_allowed", keygate.KeygateError),
        (409, "key_revoked", keygate.ConflictError),
        (409, "usage_plan_limit_reached", keygate.ConflictError),
        (413, "request_too_large", keygate.KeygateError),
        (429, "rate_limit_exceeded", keygate.RateLimitError),
        (429, "quota_exceeded", keygate.RateLimitError),
        (500, "internal_error", keygate.APIError),
        (503, "service_unavailable", keygate.ServiceUnavailableError),
        (504, "timeout", keygate.APIError),
    ],
)
def test_each_status_has_its_class(status, code, cls):
    e = parse_error(status, {}, body(code=code, message="m", type="t"), NOW)
    assert type(e) is cls and e.code == code and e.status == status and e.message == "m" and e.type == "t"
    assert isinstance(e, keygate.KeygateError)


def test_required_scope_and_retry_after_are_carried():
    e = parse_error(403, {}, body(code="insufficient_permissions", message="Needs customers:delete.", type="authorization_error", required_scope="customers:delete"), NOW)
    assert e.required_scope == "customers:delete" and "customers:delete" in str(e)
    e = parse_error(429, {"retry-after": "12"}, body(code="rate_limit_exceeded", message="m", type="rate_limit_error", retry_after=30), NOW)
    assert e.retry_after == 12, "the header wins"
    e = parse_error(503, {}, body(code="service_unavailable", message="m", type="api_error", retry_after=5), NOW)
    assert e.retry_after == 5 and e.temporary


def test_a_spent_quota_is_a_rate_limit_error_naming_its_hour():
    e = parse_error(429, {"retry-after": "3600"}, body(code="quota_exceeded", message="The key's quota for the period is used.", type="rate_limit_error", retry_after=3600), NOW)
    assert type(e) is keygate.RateLimitError and e.code == keygate.errors.QUOTA_EXCEEDED and e.retry_after == 3600


@pytest.mark.parametrize(
    "header, want",
    [("0", 0.0), ("17", 17.0), ("Thu, 15 Jan 2027 08:00:30 GMT", None), ("soon", None), ("-3", None), ("99999999999", 86400.0)],
)
def test_retry_after_header_forms(header, want):
    e = parse_error(429, {"retry-after": header}, b"", NOW)
    if header.startswith("Thu"):
        assert e.retry_after is not None and e.retry_after >= 0
    else:
        assert e.retry_after == want


def test_a_body_that_is_not_the_error_shape_still_gives_an_error():
    e = parse_error(502, {}, b"<html>Bad Gateway</html>", NOW)
    assert type(e) is keygate.APIError and e.code is None and e.message == "Bad Gateway"


def test_the_codes_are_the_services():
    assert len(keygate.CODES) == len(set(keygate.CODES)) == 21
    assert keygate.errors.INVALID_GRANT in keygate.CODES
    for code in ("quota_exceeded", "key_not_provisioned", "usage_plan_limit_reached"):
        assert code in keygate.CODES
