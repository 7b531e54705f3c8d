"""keygate's emulators (DynamoDB, Secrets Manager): moto's server app, made faithful where keygate
relies on it. One process per service; both run this file.

moto (Apache-2.0, PyPI) serves DynamoDB, but its stock `moto_server` differs from DynamoDB in two
ways that matter to keygate (both measured; see docs/emulators.md):

1. Its threaded server applies conditional writes non-atomically: 50 concurrent conditional
   UpdateItems against a limit of 20 let 22 through. DynamoDB applies every single-item write
   atomically. Here every request is handled under one lock, so each request is atomic with
   respect to every other, which is what DynamoDB guarantees per item (and more). The same holds
   for Secrets Manager: moto moves a staging label by removing it from one version and then adding
   it to another, so a threaded reader could find no AWSCURRENT mid-move; AWS moves it atomically.
2. `transact_write_items` deep-copies every table it touches before each transaction, for
   rollback: a 2-item transaction takes 10 ms on an empty table and 0.5 s at 6,000 items, and
   behind the lock that stalls every other request. Here a transaction backs up only the items
   it touches (the key of each Put/Update/Delete/ConditionCheck) and restores exactly those on
   cancellation: all-or-nothing as before, at a cost that does not grow with the table.

The replacement of (2) follows moto 5.2.5's own code line by line except for the backup and one
check moved up front: an entry holding more than one operation is refused before any entry runs
(moto raises it mid-loop, after earlier entries were applied, and never undoes them; DynamoDB
validates the whole request first). It refuses to start on another moto version, so a version
bump forces a re-read, and the DynamoDB contract suite (infra/test/ddbcontract) re-checks the behaviour.

Usage: python moto_serialised.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import signal
import sys
import threading
import time
from typing import Any

import moto
from werkzeug.serving import run_simple

PINNED_MOTO = "5.2.5"


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    """The (hash, range) DynamoType key an operation touches, or None if it cannot touch one."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None
    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                return None
            range_value = DynamoType(attrs[table.range_key_attr])
    except Exception:  # a malformed value: the operation itself will fail validation
        return None
    return hash_value, range_value


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """Deep copies of the items a transaction may change, taken before it changes any."""
    saved = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        if not isinstance(op, dict):
            continue
        try:  # by name or by ARN, as moto's own get_table resolves it
            table = backend.get_table(op.get("TableName"))
        except Exception:  # an unknown table: the operation fails, nothing to back up
            continue
        key = _item_key(table, op_type, op)
        if key is None:
            continue
        hash_value, range_value = key
        current = table.get_item(hash_value, range_value)
        saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    """Puts every saved item back as it was (absent items absent), last change first."""
    for table, hash_value, range_value, item in reversed(saved):
        if table.range_key_attr is not None:
            bucket = table.items[hash_value]
            if item is None:
                bucket.pop(range_value, None)
                if not bucket:
                    table.items.pop(hash_value, None)
            else:
                bucket[range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's DynamoDBBackend.transact_write_items with an item-level rollback."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    # Before anything runs: raised inside the loop below, it would leave earlier entries applied.
    if any(isinstance(item, dict) and len(item) > 1 for item in transact_items):
        raise TransactWriteSingleOpException
    saved = _snapshot(self, transact_items)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[Any] = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            on_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if on_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _restore(saved)
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - moto reports these as cancellation reasons
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        _restore(saved)
        raise TransactionCanceledException(errors)


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back so that moto can read it too."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


# DynamoDB keeps a TransactWriteItems ClientRequestToken for 10 minutes.
IDEMPOTENCY_WINDOW = 600.0

# Operations whose ClientRequestToken makes a retry of a success idempotent on AWS and that moto
# runs again: DynamoDB's TransactWriteItems, Secrets Manager's CreateSecret (a retry that met
# the secret its lost first attempt made answered ResourceExistsException).
IDEMPOTENT_OPERATIONS = {"TransactWriteItems", "CreateSecret"}


class Serialised:
    """A WSGI middleware that handles one request at a time, body included, and logs one line per
    request: operation, status, time spent waiting for the lock and time spent inside it. Slow
    operations and queues behind them are what break time-bound tests, so both are visible.

    It also honours the ClientRequestToken of TransactWriteItems and CreateSecret, which moto
    ignores: the AWS SDKs fill
    one in and reuse it when they retry a call whose answer was lost (a client timeout, a closed
    connection), and DynamoDB answers such a retry of a transaction that succeeded with the same
    success, without applying it twice; the same token with other parameters within the window is
    IdempotentParameterMismatchException. Without this, a retried transaction met its own
    conditions (an item it had just created) and failed."""

    def __init__(self, app: Any, log: Any, clock: Any = time.monotonic) -> None:
        self.app = app
        self.log = log
        self.clock = clock
        self.lock = threading.Lock()
        self.done_transactions: dict[str, tuple[float, str, str, list[Any], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] or environ.get("PATH_INFO", "")
        doc = _json(_body(environ))
        table = doc.get("TableName") if isinstance(doc.get("TableName"), str) else "-"
        token = doc.get("ClientRequestToken") if op in IDEMPOTENT_OPERATIONS else None
        if not isinstance(token, str) or not token:
            token = None
        else:
            token = op + " " + token
        fingerprint = json.dumps({k: v for k, v in doc.items() if k != "ClientRequestToken"}, sort_keys=True)
        arrived = time.monotonic()
        with self.lock:
            started = time.monotonic()
            status, headers, body = self._handle(environ, token, fingerprint)
            done = time.monotonic()
        start_response(status, headers)
        self.log.write(
            f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {op} {table} "
            f"{status.split(' ', 1)[0]} wait={(started - arrived) * 1000:.1f}ms "
            f"run={(done - started) * 1000:.1f}ms\n"
        )
        return [body]

    def _handle(self, environ: dict[str, Any], token: str | None, fingerprint: str) -> tuple[str, list[Any], bytes]:
        if token is not None:
            now = self.clock()
            for t in [t for t, v in self.done_transactions.items() if now - v[0] > IDEMPOTENCY_WINDOW]:
                del self.done_transactions[t]
            seen = self.done_transactions.get(token)
            if seen is not None:
                if seen[1] != fingerprint and token.startswith("TransactWriteItems "):
                    return _error(
                        "IdempotentParameterMismatchException",
                        "Request parameters do not match the ones of an earlier request with this ClientRequestToken",
                    )
                if seen[1] == fingerprint:
                    return seen[2], seen[3], seen[4]
        answer: list[Any] = []

        def capture(st: str, headers: Any, exc_info: Any = None) -> Any:
            answer[:] = [st, list(headers)]
            return lambda data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = answer
        if token is not None and status.startswith("200"):
            self.done_transactions[token] = (self.clock(), fingerprint, status, headers, body)
        return status, headers, body


def _error(code: str, message: str) -> tuple[str, list[Any], bytes]:
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": message}).encode()
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))], body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, required=True, help="TCP port")
    args = parser.parse_args(argv)

    if moto.__version__ != PINNED_MOTO:
        sys.exit(
            f"moto_serialised.py: moto {moto.__version__} is installed, this wrapper was checked against "
            f"{PINNED_MOTO}: re-read moto's transact_write_items and update the wrapper and the pin"
        )

    from moto.dynamodb.models import DynamoDBBackend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    DynamoDBBackend.transact_write_items = transact_write_items
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    class Handler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # Serialised logs instead
            pass

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        Serialised(app, sys.stdout),
        threaded=True,
        request_handler=Handler,
    )


if __name__ == "__main__":
    main()
