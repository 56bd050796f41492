"""Access control: who may do what, API keys, and the audit trail.

Roles are ordered viewer < editor < admin. Every write checks the acting
user with `AccessService.require(actor, action)`, which raises `AccessDenied`
(one plain sentence) when the role is too low; the page hides a control the
user cannot use, but the check is here, not in the hiding. API keys are shown
once at creation and stored as a SHA-256 digest; key lookups are cached for
at most `KEY_CACHE_TTL_S`, so a revocation reaches every replica within that
time (well under 2 s). A key's per-minute limits are counted in the database,
so they hold across replicas too.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import hmac
import io
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select

from core.access.models import ApiKey, AuditEvent, User
from core.db import session_scope
from core.providers.errors import TrellisError
from core.telemetry.models import utcnow

__all__ = [
    "CLI",
    "MAX_FAILED_SIGN_INS",
    "hash_key",
    "TrellisError",
    "ACTIONS",
    "LOCAL_ADMIN",
    "ROLES",
    "AccessDenied",
    "AccessService",
    "Actor",
    "ApiKey",
    "AuditEvent",
    "InvalidInput",
    "SignInFailed",
    "Unauthenticated",
    "User",
]

ROLES = ("viewer", "editor", "admin")
KEY_PREFIX = "trl_"
#: How long a key lookup is trusted before the database is asked again.
KEY_CACHE_TTL_S = 1.0
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 10

#: action -> (least role, what it does, in words for the error sentence)
ACTIONS: dict[str, tuple[str, str]] = {
    "dashboards.view": ("viewer", "view the dashboards"),
    "documents.search": ("viewer", "search documents"),
    "feedback.write": ("viewer", "rate answers"),
    "playground.use": ("editor", "use the chat playground"),
    "documents.write": ("editor", "upload, re-index or delete documents"),
    "prompts.write": ("editor", "save prompt versions or move labels"),
    "experiments.write": ("editor", "change experiments"),
    "evals.run": ("editor", "run evals"),
    "operations.view": ("admin", "open the Operations page"),
    "routes.write": ("admin", "change routes"),
    "budgets.write": ("admin", "change budgets"),
    "limits.write": ("admin", "change retries and rate limits"),
    "cache.write": ("admin", "change or clear the cache"),
    "breakers.reset": ("admin", "reset circuit breakers"),
    "guards.write": ("admin", "change guardrail policies or recognizers"),
    "labels.protected": ("admin", "move a protected label"),
    "retention.write": ("admin", "change retention"),
    "keys.manage": ("admin", "manage API keys"),
    "users.manage": ("admin", "manage users"),
    "audit.view": ("admin", "view the audit trail"),
}


class AccessDenied(TrellisError):
    """The actor's role (or the key's scope) does not allow the action."""

    error_class = "forbidden"

    @property
    def user_message(self) -> str:
        return self.detail or "You do not have permission to do that; ask an admin."


class Unauthenticated(TrellisError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    error_class = "unauthenticated"

    @property
    def user_message(self) -> str:
        return self.detail or "Sign in first."


class SignInFailed(Unauthenticated):
    error_class = "sign_in"


class InvalidInput(TrellisError):
    error_class = "validation"

    @property
    def user_message(self) -> str:
        return self.detail or "That input is not valid."


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever acts: a signed-in user, the local admin, the CLI, or an API key."""

    name: str
    role: str
    kind: str = "user"  # user | local | cli | key
    key_id: int | None = None
    key_prefix: str | None = None
    models: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None

    def can(self, action: str) -> bool:
        need = ACTIONS[action][0]
        return ROLES.index(self.role) >= ROLES.index(need)

    def may_use_model(self, model_id: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model_id, p) for p in self.models)

    def may_use_prompt(self, name: str) -> bool:
        return not self.prompts or any(fnmatch.fnmatchcase(name, p) for p in self.prompts)

    @property
    def budget_tag(self) -> str | None:
        """The tag a key's calls carry, so its budget and dashboards can find them."""
        return f"apikey:{self.key_prefix}" if self.key_prefix else None


#: The embedded default: one local user with admin rights and no sign-in.
LOCAL_ADMIN = Actor("local admin", "admin", kind="local")
CLI = Actor("cli", "admin", kind="cli")


@dataclass(slots=True)
class _CachedKey:
    fetched: float
    row: ApiKey | None


@dataclass(slots=True)
class NewKey:
    """A freshly created key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str = field(repr=False)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or "none"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _summary(value: Any) -> str | None:
    """A change as a person reads it: "limit_usd: 10; period: daily"."""
    if value is None:
        return None
    if isinstance(value, dict):
        text = "; ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v is not None)
    elif isinstance(value, str):
        text = value
    else:
        text = _plain(value)
    return text[:2000]


class AccessService:
    def __init__(self, db: Engine, budgets: Any | None = None) -> None:
        self._db = db
        #: core.reliability BudgetManager: a key's daily budget is one of its budgets.
        self._budgets = budgets
        self._hasher = PasswordHasher()
        self._keys: dict[str, _CachedKey] = {}
        self._keys_lock = threading.Lock()
        self._limiter = None

    # -- roles -------------------------------------------------------------
    def require(self, actor: Actor, action: str) -> None:
        """Raise AccessDenied, in one plain sentence, unless `actor` may do `action`."""
        need, words = ACTIONS[action]
        if not actor.can(action):
            raise AccessDenied(
                f"Your role ({actor.role}) cannot {words}; that needs the {need} role. "
                "Ask an admin if you need it."
            )

    # -- users -------------------------------------------------------------
    def list_users(self) -> list[User]:
        with session_scope(self._db) as s:
            return list(s.execute(select(User).order_by(User.username)).scalars())

    def has_admin(self) -> bool:
        return any(u.role == "admin" and not u.disabled for u in self.list_users())

    def add_user(self, actor: Actor, username: str, role: str, password: str | None) -> User:
        self.require(actor, "users.manage")
        username = username.strip()
        if not username or len(username) > 100:
            raise InvalidInput("Give the user a name of 1 to 100 characters.")
        _check_role(role)
        with session_scope(self._db) as s:
            if s.execute(select(User).where(User.username == username)).first():
                raise InvalidInput(f"A user called '{username}' already exists.")
            user = User(username=username, role=role,
                        password_hash=self._hash_password(password) if password else None)
            s.add(user)
        self.audit(actor, "user.add", username, after={"role": role})
        return user

    def set_role(self, actor: Actor, username: str, role: str) -> None:
        self.require(actor, "users.manage")
        _check_role(role)
        with session_scope(self._db) as s:
            user = self._user(s, username)
            before = user.role
            if before == "admin" and role != "admin" and self._last_admin(s, user):
                raise InvalidInput("This is the last admin; make someone else admin first.")
            user.role = role
        self.audit(actor, "user.role", username, before={"role": before}, after={"role": role})

    def set_password(self, actor: Actor, username: str, password: str) -> None:
        if actor.name != username:
            self.require(actor, "users.manage")
        with session_scope(self._db) as s:
            user = self._user(s, username)
            user.password_hash = self._hash_password(password)
            user.failed_logins, user.locked_until = 0, None
        self.audit(actor, "user.password", username)

    def remove_user(self, actor: Actor, username: str) -> None:
        self.require(actor, "users.manage")
        with session_scope(self._db) as s:
            user = self._user(s, username)
            if user.role == "admin" and self._last_admin(s, user):
                raise InvalidInput("This is the last admin; make someone else admin first.")
            s.delete(user)
        self.audit(actor, "user.remove", username)

    def authenticate(self, username: str, password: str) -> Actor:
        """Check a password; lock the account after repeated failures."""
        wrong = SignInFailed("That user name and password do not match; try again.")
        now = utcnow()
        with session_scope(self._db) as s:
            user = s.execute(
                select(User).where(User.username == username.strip())
            ).scalar_one_or_none()
            if user is None or user.disabled or not user.password_hash:
                self._hasher.hash("x" * MIN_PASSWORD_CHARS)  # same time as a real check
                raise wrong
            if user.locked_until and user.locked_until > now:
                minutes = max(1, round((user.locked_until - now).total_seconds() / 60))
                raise SignInFailed(
                    f"Too many failed sign-ins: this account is locked for {minutes} more "
                    "minute(s). Wait, or ask an admin to reset the password."
                )
            try:
                self._hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILED_SIGN_INS:
                    user.locked_until = now + LOCKOUT
                    user.failed_logins = 0
                locked = user.locked_until is not None and user.locked_until > now
                s.commit()
                if locked:
                    self.audit(Actor(user.username, user.role), "user.locked", user.username)
                raise wrong from None
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
            return Actor(user.username, user.role)

    def current(self, username: str) -> Actor | None:
        """The user's role as stored now (a role change applies to live sessions)."""
        with session_scope(self._db) as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if user is None or user.disabled:
                return None
            return Actor(user.username, user.role)

    def _hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_CHARS:
            raise InvalidInput(
                f"Choose a password of at least {MIN_PASSWORD_CHARS} characters."
            )
        return self._hasher.hash(password)

    @staticmethod
    def _user(s: Any, username: str) -> User:
        user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise InvalidInput(f"There is no user called '{username}'.")
        return user

    @staticmethod
    def _last_admin(s: Any, user: User) -> bool:
        admins = s.execute(select(User).where(User.role == "admin", User.id != user.id)).all()
        return not admins

    # -- API keys ----------------------------------------------------------
    def create_key(
        self,
        actor: Actor,
        name: str,
        *,
        owner: str | None = None,
        models: list[str] | None = None,
        prompts: list[str] | None = None,
        expires_at: datetime | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
    ) -> NewKey:
        """Create a key; its secret is in the result and nowhere else, ever."""
        self.require(actor, "keys.manage")
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("Give the key a name of 1 to 100 characters.")
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput("The expiry date is in the past; pick a later one.")
        for value, what in ((rpm, "Requests per minute"), (tpm, "Tokens per minute")):
            if value is not None and value < 1:
                raise InvalidInput(f"{what} must be at least 1, or left empty for no limit.")
        if budget_usd is not None and budget_usd <= 0:
            raise InvalidInput("The daily budget must be more than $0, or left empty.")
        prefix = secrets.token_hex(5)
        secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            prefix=prefix,
            key_hash=hash_key(secret),
            name=name,
            owner=(owner or actor.name).strip(),
            models=[m.strip() for m in models or [] if m.strip()],
            prompts=[p.strip() for p in prompts or [] if p.strip()],
            rpm=rpm,
            tpm=tpm,
            budget_usd=budget_usd,
            expires_at=expires_at,
        )
        with session_scope(self._db) as s:
            s.add(key)
        if budget_usd is not None and self._budgets is not None:
            from core.reliability.models import Budget

            self._budgets.save(
                Budget(name=f"key {name} ({prefix})", scope="tag", subject=f"apikey:{prefix}",
                       period="daily", limit_usd=budget_usd)
            )
        self.audit(actor, "key.create", f"{name} ({prefix})", after=_key_summary(key))
        return NewKey(key, secret)

    def list_keys(self) -> list[ApiKey]:
        with session_scope(self._db) as s:
            return list(s.execute(select(ApiKey).order_by(ApiKey.created_at.desc())).scalars())

    def revoke_key(self, actor: Actor, key_id: int) -> ApiKey:
        self.require(actor, "keys.manage")
        with session_scope(self._db) as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise InvalidInput(f"There is no API key #{key_id}.")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        with self._keys_lock:
            self._keys.pop(key.prefix, None)
        self.audit(actor, "key.revoke", f"{key.name} ({key.prefix})",
                   before={"revoked": False}, after={"revoked": True})
        return key

    def verify_key(self, secret: str | None) -> Actor:
        """The actor behind an API key, or Unauthenticated saying what is wrong."""
        if not secret:
            raise Unauthenticated(
                "No API key was sent; send one as 'Authorization: Bearer <key>'."
            )
        invalid = Unauthenticated(
            "The API key is not valid; check it, or ask an admin for a new one."
        )
        parts = secret.split("_")
        if len(parts) < 3 or not secret.startswith(KEY_PREFIX):
            raise invalid
        row = self._lookup(parts[1])
        if row is None or not hmac.compare_digest(row.key_hash, hash_key(secret)):
            raise invalid
        now = utcnow()
        if row.revoked_at is not None:
            raise _known(Unauthenticated(
                "This API key was revoked; ask an admin for a new one."
            ), row)
        if row.expires_at is not None and row.expires_at <= now:
            raise _known(Unauthenticated(
                f"This API key expired on {row.expires_at:%Y-%m-%d %H:%M} UTC; "
                "ask an admin for a new one."
            ), row)
        return Actor(
            f"key:{row.name}",
            "viewer",
            kind="key",
            key_id=row.id,
            key_prefix=row.prefix,
            models=tuple(row.models or ()),
            prompts=tuple(row.prompts or ()),
            rpm=row.rpm,
            tpm=row.tpm,
        )

    def _lookup(self, prefix: str) -> ApiKey | None:
        now = time.monotonic()
        with self._keys_lock:
            hit = self._keys.get(prefix)
            if hit is not None and now - hit.fetched < KEY_CACHE_TTL_S:
                return hit.row
        with session_scope(self._db) as s:
            row = s.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
        with self._keys_lock:
            if len(self._keys) > 10_000:
                self._keys.clear()  # guessed prefixes must not grow the cache without end
            self._keys[prefix] = _CachedKey(now, row)
        return row

    def admit_key(self, actor: Actor, tokens: int) -> Any:
        """Apply a key's own requests/tokens per minute. The counts live in the database
        (core/reliability/shared_limits), so the limits hold across gateway processes;
        a key without limits costs no database trip."""
        if actor.kind != "key" or (actor.rpm is None and actor.tpm is None):
            return None
        if self._limiter is None:
            from core.reliability.shared_limits import SharedRateLimiter

            self._limiter = SharedRateLimiter(self._db)
        return self._limiter.admit(f"key:{actor.key_prefix}", tokens, rpm=actor.rpm,
                                   tpm=actor.tpm, who="this API key")

    def settle_key(self, admission: Any, tokens: int | None) -> None:
        """Correct the key's token count with the call's real tokens (None: keep the
        estimate)."""
        if admission is not None and self._limiter is not None:
            self._limiter.settle(admission, tokens)

    # -- audit -------------------------------------------------------------
    def audit(
        self,
        actor: Actor,
        action: str,
        target: str | None = None,
        *,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Record a change. Callers pass summaries only, never secrets."""
        with session_scope(self._db) as s:
            s.add(AuditEvent(actor=actor.name, action=action, target=target,
                             before=_summary(before), after=_summary(after)))

    def events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        q = select(AuditEvent)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        if action:
            q = q.where(AuditEvent.action.startswith(action))
        if target:
            q = q.where(AuditEvent.target.contains(target))
        if since:
            q = q.where(AuditEvent.at >= since)
        if until:
            q = q.where(AuditEvent.at < until)
        q = q.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        with session_scope(self._db) as s:
            return list(s.execute(q).scalars())

    def events_csv(self, **filters: Any) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time (UTC)", "actor", "action", "target", "before", "after"])
        for e in self.events(**filters):
            writer.writerow([f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target or "",
                             e.before or "", e.after or ""])
        return out.getvalue()


def _known(err: Unauthenticated, row: ApiKey) -> Unauthenticated:
    """A refusal of a real (revoked or expired) key: its name and public prefix ride
    along for the gateway's log row, never its secret."""
    err.key_label = f"{row.name} ({row.prefix})"  # type: ignore[attr-defined]
    err.key_prefix = row.prefix  # type: ignore[attr-defined]
    return err


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Role '{role}' is not one of viewer, editor, admin.")


def _key_summary(key: ApiKey) -> dict[str, Any]:
    return {
        "owner": key.owner,
        "models": key.models or "any",
        "prompts": key.prompts or "any",
        "rpm": key.rpm,
        "tpm": key.tpm,
        "budget_usd": key.budget_usd,
        "expires_at": key.expires_at,
    }
