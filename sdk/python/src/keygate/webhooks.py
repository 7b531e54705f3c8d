"""Webhook verification for receivers: Standard Webhooks (https://www.standardwebhooks.com),
as keygate's Go package shared/webhook signs and verifies them.

The signatures are computed and compared by the maintained ``standardwebhooks`` package; this
module wraps it with keygate's defaults and rules:

- the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers, a timestamp
  within 5 minutes of now (either way), the raw body bytes;
- headers checked as shared/webhook checks them before any HMAC: an id of 1 to 256 printable
  ASCII characters, a timestamp of decimal digits, at most 32 signatures in 8 KiB, every
  ``v1`` signature 32 bytes of base64 (a malformed one is refused, not skipped);
- secrets ``whsec_`` + base64 of 16 to 64 bytes, checked when the Verifier is made;
- rotation: a Verifier holds several secrets while one is rotated and accepts a delivery
  signed by any of them (a sender mid-rotation may send one signature per secret).

Verify before parsing the body, with the bytes exactly as received::

    verifier = keygate.webhooks.Verifier([os.environ["WEBHOOK_SECRET"], os.environ.get("WEBHOOK_SECRET_OLD", "")])
    verifier.verify(request.headers, request.body)   # raises WebhookVerificationError

A Verifier never shows its secrets (repr, errors); errors say what is wrong with the delivery,
never what the expected signature was. Replay protection within the 5 minutes (remembering
webhook-ids) is the receiver's: keep the ids of processed deliveries.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Union

from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as _LibError

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # the standardwebhooks packages' fixed tolerance, and keygate's default

_MAX_ID_LEN = 256
_MAX_SIGNATURE_LEN = 8 << 10
_MAX_SIGNATURES = 32
_MIN_SECRET_BYTES = 16
_MAX_SECRET_BYTES = 64
_NEW_SECRET_BYTES = 32

Body = Union[bytes, bytearray, memoryview, str]


class WebhookVerificationError(Exception):
    """A delivery that does not verify. ``reason`` is one of the constants below (the same
    names as shared/webhook's errors)."""

    MISSING_HEADERS = "missing_headers"
    INVALID_HEADERS = "invalid_headers"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_TOO_NEW = "timestamp_too_new"
    NO_MATCH = "no_match"

    _MESSAGES = {
        MISSING_HEADERS: "missing webhook-id, webhook-timestamp or webhook-signature header",
        INVALID_HEADERS: "malformed webhook headers",
        TIMESTAMP_TOO_OLD: "timestamp too old",
        TIMESTAMP_TOO_NEW: "timestamp too far in the future",
        NO_MATCH: "no matching signature",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("webhook: " + self._MESSAGES.get(reason, reason))


class InvalidSecretError(ValueError):
    """A secret that is not ``whsec_`` + base64 of 16 to 64 bytes (its value is not shown)."""

    def __init__(self) -> None:
        super().__init__("webhook: invalid secret (want whsec_ followed by base64 of 16 to 64 bytes)")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a secret: the base64 after an optional ``whsec_`` prefix (padded or
    not, standard alphabet), 16 to 64 bytes."""
    if not isinstance(secret, str):
        raise InvalidSecretError()
    s = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    s = s.rstrip("=")
    if len(s) % 4 == 1:
        raise InvalidSecretError()
    try:
        key = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretError() from None
    if not _MIN_SECRET_BYTES <= len(key) <= _MAX_SECRET_BYTES:
        raise InvalidSecretError()
    return key


def new_secret() -> str:
    """A fresh random secret, ``whsec_`` + the base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(_NEW_SECRET_BYTES)).decode()


def _check_id(msg_id: str) -> None:
    if not msg_id or len(msg_id) > _MAX_ID_LEN or any(not 0x21 <= ord(c) <= 0x7E for c in msg_id):
        raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)


def _bytes(body: Body) -> bytes:
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, (bytes, bytearray)) or (isinstance(body, memoryview) and body.itemsize == 1):
        return bytes(body)
    raise TypeError("webhook: the body must be the raw bytes (or str) of the delivery")


def _as_datetime(timestamp: Union[datetime, int, float]) -> datetime:
    if isinstance(timestamp, datetime):
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc)


def sign(secret: str, msg_id: str, timestamp: Union[datetime, int, float], body: Body) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of a delivery."""
    key = decode_secret(secret)
    _check_id(msg_id)
    return Webhook(key).sign(msg_id, _as_datetime(timestamp), _bytes(body))


def signed_headers(secret: str, msg_id: str, timestamp: Union[datetime, int, float], body: Body) -> Dict[str, str]:
    """The three headers of a signed delivery (for senders and tests)."""
    ts = _as_datetime(timestamp)
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(ts.timestamp())),
        HEADER_SIGNATURE: sign(secret, msg_id, ts, body),
    }


def _lower(headers: Any) -> Dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else headers
    out: Dict[str, str] = {}
    for k, v in items:
        k = k.decode("latin-1") if isinstance(k, bytes) else str(k)
        v = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        out.setdefault(k.lower(), v)  # the first value, as Go's Header.Get
    return out


def _v1_signatures(value: str) -> List[str]:
    """The well-formed v1 entries of a webhook-signature value, as shared/webhook parses it."""
    if len(value) > _MAX_SIGNATURE_LEN:
        raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)
    entries = value.split()
    if len(entries) > _MAX_SIGNATURES:
        raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)
    out = []
    for entry in entries:
        version, sep, sig = entry.partition(",")
        if not sep or not version:
            raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)
        if version != "v1":
            continue
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)
        out.append(entry)
    if not out:
        raise WebhookVerificationError(WebhookVerificationError.NO_MATCH)
    return out


class Verifier:
    """Verifies deliveries against one or more secrets (several while a secret is rotated).
    Safe for concurrent use."""

    def __init__(self, secrets: Union[str, Sequence[str]]) -> None:
        given = [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
        if not given:
            raise ValueError("webhook: no secrets to verify with")
        self._hooks = [Webhook(decode_secret(s)) for s in given]

    def __repr__(self) -> str:
        return f"keygate.webhooks.Verifier(secrets={len(self._hooks)} (redacted), tolerance={TOLERANCE_SECONDS}s)"

    def verify(self, headers: Union[Mapping[str, str], Iterable[Any]], body: Body) -> None:
        """Checks a delivery's headers against its raw body; raises
        :class:`WebhookVerificationError` when it does not verify."""
        h = _lower(headers)
        msg_id, ts, sig = h.get(HEADER_ID, ""), h.get(HEADER_TIMESTAMP, ""), h.get(HEADER_SIGNATURE, "")
        if not msg_id or not ts or not sig:
            raise WebhookVerificationError(WebhookVerificationError.MISSING_HEADERS)
        _check_id(msg_id)
        if not ts.isascii() or not ts.isdigit() or len(ts) > 12:
            raise WebhookVerificationError(WebhookVerificationError.INVALID_HEADERS)
        now = time.time()
        if int(ts) < now - TOLERANCE_SECONDS:
            raise WebhookVerificationError(WebhookVerificationError.TIMESTAMP_TOO_OLD)
        if int(ts) > now + TOLERANCE_SECONDS:
            raise WebhookVerificationError(WebhookVerificationError.TIMESTAMP_TOO_NEW)
        lib_headers = {HEADER_ID: msg_id, HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: " ".join(_v1_signatures(sig))}
        payload = _bytes(body)
        for hook in self._hooks:
            try:
                hook.verify(payload, lib_headers, json_parse=False)
                return
            except _LibError as e:
                reason = _reason(str(e))
                if reason != WebhookVerificationError.NO_MATCH:
                    raise WebhookVerificationError(reason) from None
        raise WebhookVerificationError(WebhookVerificationError.NO_MATCH)


def _reason(message: str) -> str:
    m = message.lower()
    if "too old" in m:
        return WebhookVerificationError.TIMESTAMP_TOO_OLD
    if "too new" in m:
        return WebhookVerificationError.TIMESTAMP_TOO_NEW
    if "missing" in m:
        return WebhookVerificationError.MISSING_HEADERS
    if "no matching" in m:
        return WebhookVerificationError.NO_MATCH
    return WebhookVerificationError.INVALID_HEADERS


def verify(headers: Union[Mapping[str, str], Iterable[Any]], body: Body, *secrets: str) -> None:
    """``Verifier(secrets).verify(headers, body)``."""
    Verifier(list(secrets)).verify(headers, body)


__all__ = [
    "Verifier",
    "verify",
    "sign",
    "signed_headers",
    "new_secret",
    "decode_secret",
    "WebhookVerificationError",
    "InvalidSecretError",
    "HEADER_ID",
    "HEADER_TIMESTAMP",
    "HEADER_SIGNATURE",
    "TOLERANCE_SECONDS",
]
