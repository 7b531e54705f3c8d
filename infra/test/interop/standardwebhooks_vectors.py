"""Signs and verifies webhook test vectors with the `standardwebhooks` package (PyPI), an
implementation of Standard Webhooks that shares no code with keygate's shared/webhook.

Reads one JSON object on stdin and writes one on stdout:

  {"sign":   [{"secret", "id", "timestamp", "body_b64"}, ...],
   "verify": [{"secret", "headers": {...}, "body_b64"}, ...]}
  -> {"signatures": ["v1,...", ...], "verdicts": [{"valid": bool, "error": str}, ...]}

Bodies travel as base64 so every byte reaches the library unchanged. The library verifies
against the real clock with its fixed 5-minute tolerance, so the caller sends current
timestamps for deliveries it expects to pass.
"""

import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    req = json.load(sys.stdin)
    out = {"signatures": [], "verdicts": []}
    for v in req.get("sign") or []:
        body = base64.b64decode(v["body_b64"]).decode("utf-8")
        ts = datetime.fromtimestamp(v["timestamp"], tz=timezone.utc)
        out["signatures"].append(Webhook(v["secret"]).sign(v["id"], ts, body))
    for v in req.get("verify") or []:
        body = base64.b64decode(v["body_b64"])
        try:
            Webhook(v["secret"]).verify(body, v["headers"], json_parse=False)
            out["verdicts"].append({"valid": True, "error": ""})
        except WebhookVerificationError as e:
            out["verdicts"].append({"valid": False, "error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
