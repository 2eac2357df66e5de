"""`Idempotency-Key` (header) and `client_message_id` (JSON body) on creating routes (API.md
"Streams and sends that never duplicate or lose"; use_cases/shared/idempotency.py).

`@idempotent` goes between the last `@blp.arguments` (it takes the parsed body, the last
argument) and `@blp.response` (it keeps the response as sent). A repeat of a kept JSON answer
gets it again, with the header `Idempotent-Replayed: true`; a streamed answer is replayed by
the route's `replay` function, from the StoredResponse its route kept (`claim().finish(...)`,
e.g. the ids of a streamed reply, which a repeat then resumes). A stream the route did not
settle releases the key when it ends. An answer that shows a secret once (`secret=True`: a new API
key, a webhook's signing secret) is kept encrypted with ENCRYPTION_KEY, as other secrets at rest.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from flask import Flask, Response, g, request

from controllers.deps import use_cases
from controllers.errors import error_response, status_for
from controllers.security import current_actor
from entities.errors import DomainError, ValidationFailed
from entities.idempotency import StoredResponse
from use_cases.shared.idempotency import MAX_KEY_LENGTH, Claim, fingerprint

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
BODY_FIELD = "client_message_id"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}$")  # printable ASCII, no spaces
PARAMETER = {"in": "header", "name": HEADER, "required": False,
             "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
             "description": "A key the client chose for this request (or `client_message_id` in "
                            "the body): a repeat with the same key within 24 h stores nothing "
                            "new and gets the first answer (a stream resumes); the same key "
                            "with another body is 409 `idempotency_conflict`"}

SEALED = "json_sealed"  # a JSON answer kept encrypted

Replay = Callable[[StoredResponse], Response]


def _key(body: dict | None) -> str | None:
    """The request's key: the header, else the body's `client_message_id` (removed from the
    body: routes never see it). Both given must agree."""
    header = request.headers.get(HEADER)
    field = body.pop(BODY_FIELD, None) if isinstance(body, dict) else None
    if header is not None and not _KEY.match(header.strip()):
        raise ValidationFailed("Invalid Idempotency-Key", {HEADER: [
            f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]})
    header = header.strip() if header is not None else None
    if header and field and header != field:
        raise ValidationFailed("Idempotency-Key and client_message_id differ",
                               {BODY_FIELD: ["Must equal the Idempotency-Key header."]})
    return header or field


def claim() -> Claim | None:
    """The running request's claim on its key (None without a key)."""
    return g.get("idempotency_claim")


KEPT_HEADERS = ("Location",)  # headers of an answer that a replay gives again


def json_replay(stored: StoredResponse) -> Response:
    response = Response(json.dumps(stored.body), status=stored.status,
                        mimetype="application/json", headers=stored.headers)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _settling(chunks: Iterable, held: Claim) -> Iterator:
    """A streamed body that releases the key when it ends before its route settled it."""
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        try:
            held.release()
        except Exception:  # the claim then lapses with its lease
            log.warning("could not release an idempotency key", exc_info=True)


def _kept(response: Response, secret: bool) -> StoredResponse:
    body = response.get_json()
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    if secret:
        return StoredResponse(response.status_code,
                              use_cases().encryptor.encrypt(json.dumps(body)), SEALED,
                              headers=headers)
    return StoredResponse(response.status_code, body, headers=headers)


def _unsealed(stored: StoredResponse) -> StoredResponse:
    return StoredResponse(stored.status, json.loads(use_cases().encryptor.decrypt(stored.body)),
                          headers=stored.headers)


WORKSPACE_HEADER = "X-Workspace-ID"  # controllers/openai.py: a token's workspace on /v1


def scope() -> str:
    """Where a key is the caller's own, besides its user: the method and path, and the
    credential's workspace when the path does not name it (/v1): an API key's id (a key acts in
    its one workspace), else a token's `X-Workspace-ID` when sent. So a key used in one
    workspace is never replayed in another (nor conflicts there), nor between a user's API key
    and token. Without either, the method and path alone: what the talk WebSocket's sends use
    (controllers/talk_socket.py), so that a send and its repeat on the other channel share it."""
    actor = current_actor()
    route = f"{request.method} {request.path}"
    if actor.api_key_id:
        return f"{route} key={actor.api_key_id}"
    workspace = request.headers.get(WORKSPACE_HEADER, "").strip()
    return f"{route} workspace={workspace}" if workspace else route


def run_once(key: str | None, material: Any, run: Callable[[], Response],
             replay: Replay | None = None, secret: bool = False) -> Response:
    """`run()` once per (caller, `scope()`, `key`): a repeat with the same `material`
    (what the request asks for: its body, its query, an upload's fields and file digest) gets
    the kept answer; with other material, 409 `idempotency_conflict`. No key: `run()`."""
    if key is None:
        return run()
    outcome = use_cases().idempotency.begin(
        current_actor().user_id, scope(), key, fingerprint(material))
    if isinstance(outcome, StoredResponse):
        if outcome.kind == "json":
            return json_replay(outcome)
        if outcome.kind == SEALED:
            return json_replay(_unsealed(outcome))
        if replay is None:
            raise ValidationFailed("This route cannot replay that answer")
        response = replay(outcome)
        response.headers[REPLAYED_HEADER] = "true"
        return response
    g.idempotency_claim = outcome
    try:
        response = run()
    except DomainError as error:
        status = status_for(error)
        kept = error_response(status, error.code, error.message, error.details)
        outcome.finish(StoredResponse(status, kept.get_json()))
        raise
    except BaseException:
        outcome.release()
        raise
    if not outcome.settled:
        if response.is_streamed:
            response.response = _settling(response.response, outcome)
        else:
            outcome.finish(_kept(response, secret))
    return response


def header_key() -> str | None:
    """The `Idempotency-Key` header alone (routes whose body is not JSON: uploads)."""
    return _key(None)


def accepts_key(fn):
    """Marks a view that calls `run_once` itself, for the OpenAPI document (`document`)."""
    fn._idempotent = True
    return fn


def idempotent(view: Callable | None = None, *, replay: Replay | None = None,
               secret: bool = False):
    """Make a creating route idempotent per (user, method and path, key); see the module.
    `replay`: how a kept stream is replayed; `secret`: the answer shows a secret once."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            body = args[-1] if args and isinstance(args[-1], dict) else None  # the JSON body
            # the body, and the query arguments parsed before it
            return run_once(_key(body), list(args), lambda: fn(*args, **kwargs), replay, secret)

        return accepts_key(wrapper)

    return decorate(view) if view else decorate


def document(app: Flask, api) -> None:
    """Adds the `Idempotency-Key` header to the spec of every `@idempotent` route."""
    paths = api.spec._paths  # apispec keeps the operations built so far here
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if not getattr(view, "_idempotent", False):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                operation.setdefault("parameters", []).append(PARAMETER)
