"""Rate limits (Flask-Limiter), counted in MongoDB so every gunicorn worker shares them.

What is limited:
- every request except the service routes (health, metrics, docs): RATELIMIT_DEFAULT per user
  (the `sub` of a validly signed bearer token) or, without one, per client IP;
- `limit_auth`: RATELIMIT_AUTH per client IP, for login, register and password reset;
- `limit_llm` and `limit_messages`: RATELIMIT_LLM per user, one budget shared by every route that
  calls a model (sending a message, /llm/chat, /v1/chat/completions...); `charge_model_calls`
  draws from the same budget where no route decorator applies (WebSocket frames, workflow runs);
- `limit_uploads`: RATELIMIT_LLM per user, counted apart from the model calls (file uploads,
  talk imports and account exports);
- `limit_mail`: every route that sends mail (register, verification resend, password reset), on
  top of its other limits: RATELIMIT_MAIL per target (the `email` of the body, by its hash, else
  the authenticated account) and RATELIMIT_MAIL_IP per client IP, each one budget shared by all
  those routes, so no one can make the service mail an address, or mail many, over and over.

Put the decorator right under the route decorator, so the limit is checked before the body is
parsed or the token's session is looked up:

    @blp.post("/<talk_id>/messages")
    @limit_messages
    @authenticated
    @blp.arguments(SendMessageSchema)
    def send_message(body, talk_id): ...

A 429 has API.md's error shape (OpenAI's under /v1/) with Retry-After and X-RateLimit-Limit,
X-RateLimit-Remaining and X-RateLimit-Reset headers. Counters live in the app's database
(adapters/rate_limit_storage.py) unless RATELIMIT_STORAGE_URI names another `limits` storage
(e.g. `memory://` for a single process).

The Limiter is module-level, like every Flask extension used with decorators; `init_rate_limits`
binds it to the app being created, so one process serves one app's limits at a time.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from flask import Flask, request
from flask_jwt_extended import decode_token
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from controllers.deps import settings
from controllers.errors import error_response
from entities.api_key import KEY_PREFIX
from entities.errors import RateLimited
from entities.user import normalise_email

SERVICE_PATHS = frozenset({"/", "/health", "/api/health", "/metrics", "/openapi.json", "/docs",
                           "/redoc", "/favicon.ico"})


def client_ip() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


def user_or_ip() -> str:
    """The user of a validly signed bearer token, the workspace API key (`sk-syn-...`, by its
    hash), else the client IP. No database lookup: a revoked token still counts against its
    user, which is what a limit wants."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip().startswith(KEY_PREFIX):
        return f"key:{hashlib.sha256(token.strip().encode()).hexdigest()[:32]}"
    if scheme.lower() == "bearer" and token.count(".") == 2:
        try:
            return f"user:{decode_token(token.strip())['sub']}"
        except Exception:  # any invalid or expired token: count it against the address
            return client_ip()
    return client_ip()


def mail_target() -> str:
    """The account a mail-sending request mails: the body's `email` (hashed: counters hold no
    addresses), else the authenticated user, else the client IP."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if isinstance(email, str) and email.strip():
        return "mail-to:" + hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    return user_or_ip()


limiter = Limiter(
    key_func=user_or_ip,
    application_limits=[lambda: settings().ratelimit_default],
    # Flask-Limiter's own headers cost two storage reads on every response; they are added to
    # 429s only, in _rate_limited.
    headers_enabled=False,
    strategy="fixed-window",
)

limit_auth = limiter.limit(lambda: settings().ratelimit_auth, key_func=client_ip)
limit_llm = limiter.shared_limit(lambda: settings().ratelimit_llm, scope="llm")
limit_messages = limit_llm
limit_uploads = limiter.shared_limit(lambda: settings().ratelimit_llm, scope="uploads")
_mail_per_target = limiter.shared_limit(lambda: settings().ratelimit_mail, scope="mail-target",
                                        key_func=mail_target)
_mail_per_ip = limiter.shared_limit(lambda: settings().ratelimit_mail_ip, scope="mail-ip",
                                    key_func=client_ip)


def limit_mail(view):
    """RATELIMIT_MAIL per target account and RATELIMIT_MAIL_IP per client IP (see above)."""
    return _mail_per_ip(_mail_per_target(view))


def charge_model_calls(identity: str, calls: int = 1) -> None:
    """Counts `calls` model calls against RATELIMIT_LLM (the budget every model route shares)
    for what no route decorator covers: WebSocket message frames, workflow runs (one call per
    `llm` node). `identity` is in user_or_ip's form ("user:<id>"). Raises RateLimited (429),
    counting nothing, when the calls do not all fit."""
    if not limiter.enabled or calls <= 0:
        return
    strategy = limiter.limiter
    items = sorted(parse_many(settings().ratelimit_llm))
    for item in items:
        if not strategy.test(item, identity, "llm", cost=calls):
            reset_at = strategy.get_window_stats(item, identity, "llm").reset_time
            raise RateLimited(f"Rate limit exceeded: {item} model calls",
                              retry_after=max(1, int(reset_at - time.time() + 0.999)))
    for item in items:
        strategy.hit(item, identity, "llm", cost=calls)


def round_charger(identity: str) -> Callable[[], None]:
    """charge_model_calls(identity) as a function that works outside the request (an agent's
    later rounds, run by the reply's thread): the limits and the counters are taken now."""
    if not limiter.enabled:
        return lambda: None
    strategy = limiter.limiter
    items = sorted(parse_many(settings().ratelimit_llm))

    def charge() -> None:
        for item in items:
            if not strategy.test(item, identity, "llm"):
                reset_at = strategy.get_window_stats(item, identity, "llm").reset_time
                raise RateLimited(f"Rate limit exceeded: {item} model calls",
                                  retry_after=max(1, int(reset_at - time.time() + 0.999)))
        for item in items:
            strategy.hit(item, identity, "llm")

    return charge


@limiter.request_filter
def _exempt() -> bool:
    return (request.method == "OPTIONS" or request.path in SERVICE_PATHS
            or request.path.startswith("/docs-assets/"))


def _rate_limited(error: RateLimitExceeded):
    current = limiter.current_limit
    reset_at = current.reset_at if current else time.time() + 60
    headers = {"Retry-After": max(1, int(reset_at - time.time())),
               "X-RateLimit-Limit": error.limit.limit.amount,
               "X-RateLimit-Remaining": 0,
               "X-RateLimit-Reset": int(reset_at)}
    return error_response(429, "rate_limited", f"Rate limit exceeded: {error.description}",
                          headers=headers)


def trust_proxies(app: Flask, count: int) -> None:
    """Behind `count` proxies (nginx), take the client address and scheme from X-Forwarded-*."""
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def init_rate_limits(app: Flask, enabled: bool, storage_uri: str, storage_options: dict):
    """Bind the limiter to `app`; returns a function that closes its storage connection."""
    app.config.update(RATELIMIT_ENABLED=enabled, RATELIMIT_STORAGE_URI=storage_uri,
                      RATELIMIT_STORAGE_OPTIONS=storage_options)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    storage = limiter.storage if enabled else None
    return getattr(storage, "close", lambda: None)
