"""Webhook verification: standardwebhooks underneath, keygate's header rules and secret
rotation on top. The vectors shared with the Go package run in the e2e suite."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from keygate import webhooks
from keygate.webhooks import WebhookVerificationError as E

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def fresh(secret=SPEC_SECRET, msg_id="msg_1", body=b'{"type":"key.revoked"}', ts=None):
    return webhooks.signed_headers(secret, msg_id, int(time.time()) if ts is None else ts, body), body


def reason(headers, body, *secrets):
    with pytest.raises(E) as e:
        webhooks.Verifier(list(secrets) or [SPEC_SECRET]).verify(headers, body)
    return e.value.reason


def test_the_specifications_example_signs_as_specified():
    assert webhooks.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_a_fresh_delivery_verifies_with_any_header_case_and_bytes_or_str():
    h, body = fresh()
    webhooks.Verifier(SPEC_SECRET).verify(h, body)
    webhooks.Verifier(SPEC_SECRET).verify({k.upper(): v for k, v in h.items()}, body.decode())
    webhooks.Verifier(SPEC_SECRET).verify(list(h.items()), bytearray(body))


def test_bodies_that_are_not_utf8_verify_byte_for_byte():
    body = b"\xff\xfe\x00binary"
    h, _ = fresh(body=body)
    webhooks.verify(h, body, SPEC_SECRET)
    assert reason(h, body + b"\x00") == E.NO_MATCH


def test_during_a_rotation_either_secret_verifies():
    old, new = webhooks.new_secret(), webhooks.new_secret()
    v = webhooks.Verifier([new, old])
    for s in (old, new):
        h, body = fresh(secret=s)
        v.verify(h, body)
    # A sender mid-rotation may send one signature per secret in one header.
    h, body = fresh(secret=old)
    h["webhook-signature"] = webhooks.sign(new, "msg_1", int(h["webhook-timestamp"]), body) + " " + h["webhook-signature"]
    webhooks.Verifier(old).verify(h, body)
    webhooks.Verifier(new).verify(h, body)
    assert reason(h, body, webhooks.new_secret()) == E.NO_MATCH


def test_empty_entries_in_the_secret_list_are_ignored_but_not_an_empty_list():
    webhooks.Verifier([SPEC_SECRET, ""])
    with pytest.raises(ValueError):
        webhooks.Verifier(["", ""])


@pytest.mark.parametrize(
    "tamper, want",
    [
        (lambda h, b: (h, b + b" "), E.NO_MATCH),
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), E.NO_MATCH),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b), E.NO_MATCH),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) - 301)}, b), E.TIMESTAMP_TOO_OLD),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) + 301)}, b), E.TIMESTAMP_TOO_NEW),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), E.MISSING_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": ""}, b), E.MISSING_HEADERS),
        (lambda h, b: ({**h, "webhook-id": "msg 1"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-id": "m" * 257}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-timestamp": "1.7e9"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-timestamp": "+" + h["webhook-timestamp"]}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": "v1,not-base64!"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": "v1"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": ",abc"}, b), E.INVALID_HEADERS),
        (lambda h, b: ({**h, "webhook-signature": "v1a,abc"}, b), E.NO_MATCH),
        (lambda h, b: ({**h, "webhook-signature": " ".join([h["webhook-signature"]] * 33)}, b), E.INVALID_HEADERS),
    ],
    ids=[
        "a changed body", "another id", "another timestamp", "a stale timestamp", "a future timestamp", "no id header",
        "an empty signature", "an id with a space", "an id too long", "a timestamp in exponent form", "a signed timestamp",
        "a signature that is not base64", "a signature of the wrong length", "an entry without a comma", "an entry without a version",
        "only another version's signatures", "too many signatures",
    ],
)
def test_tampered_and_malformed_deliveries_are_refused_with_a_reason(tamper, want):
    h, body = fresh()
    h, body = tamper(h, body)
    assert reason(h, body) == want


def test_other_versions_are_skipped_beside_a_good_v1():
    h, body = fresh()
    h["webhook-signature"] = "v1a,c29tZXRoaW5n " + h["webhook-signature"]
    webhooks.Verifier(SPEC_SECRET).verify(h, body)


@pytest.mark.parametrize(
    "secret",
    ["", "whsec_", "whsec_c2hvcnQ=", "whsec_" + "A" * 100, "whsec_not*base64*at*all!!", "whsec_" + "QUJD" * 30],
    ids=["empty", "prefix only", "too short", "too long", "not base64", "over 64 bytes"],
)
def test_bad_secrets_are_refused_without_showing_them(secret):
    with pytest.raises(webhooks.InvalidSecretError) as e:
        webhooks.Verifier(secret)
    assert secret[6:] == "" or secret[6:] not in str(e.value)


def test_secrets_with_or_without_prefix_and_padding_decode_alike():
    raw = webhooks.decode_secret(SPEC_SECRET)
    assert webhooks.decode_secret(SPEC_SECRET[6:]) == raw
    padded = webhooks.new_secret()
    assert webhooks.decode_secret(padded) == webhooks.decode_secret(padded.rstrip("="))


def test_signatures_agree_with_the_library_itself():
    s = webhooks.new_secret()
    ts = int(time.time())
    assert webhooks.sign(s, "msg_x", ts, b"body") == Webhook(s).sign("msg_x", __import__("datetime").datetime.fromtimestamp(ts, tz=__import__("datetime").timezone.utc), b"body")


def test_a_verifier_never_shows_its_secrets():
    s = webhooks.new_secret()
    v = webhooks.Verifier([s, SPEC_SECRET])
    assert s not in repr(v) and SPEC_SECRET not in repr(v) and "2 (redacted)" in repr(v)
    h, body = fresh(secret=s)
    with pytest.raises(E) as e:
        webhooks.Verifier([SPEC_SECRET]).verify(h, body)
    assert h["webhook-signature"][3:] not in str(e.value)
