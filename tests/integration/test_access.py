"""core/access on SQLite and PostgreSQL: users, sign-in, keys, the audit trail, migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from core.access import (
    CLI,
    LOCAL_ADMIN,
    MAX_FAILED_SIGN_INS,
    AccessDenied,
    AccessService,
    Actor,
    InvalidInput,
    SignInFailed,
    Unauthenticated,
    hash_key,
)
from core.db import downgrade, migrate
from core.telemetry.models import utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def access(db) -> AccessService:
    return AccessService(db)


def test_users_sign_in_lock_out_and_reset(access):
    access.add_user(CLI, "ada", "admin", PASSWORD)
    [user] = access.list_users()
    assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
    assert access.authenticate("ada", PASSWORD) == Actor("ada", "admin")
    with pytest.raises(SignInFailed, match="do not match"):
        access.authenticate("nobody", PASSWORD)
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInFailed, match="do not match"):
            access.authenticate("ada", "wrong password")
    with pytest.raises(SignInFailed, match="locked for 15 more minute"):
        access.authenticate("ada", PASSWORD)  # even the right password, while locked
    access.set_password(CLI, "ada", PASSWORD + "!")
    assert access.authenticate("ada", PASSWORD + "!").role == "admin"
    assert [e.action for e in access.events(target="ada")] == [
        "user.password", "user.locked", "user.add"]


def test_roles_and_the_last_admin(access):
    access.add_user(CLI, "ada", "admin", PASSWORD)
    access.add_user(CLI, "ed", "editor", None)
    with pytest.raises(InvalidInput, match="last admin"):
        access.set_role(CLI, "ada", "viewer")
    with pytest.raises(InvalidInput, match="already exists"):
        access.add_user(CLI, "ed", "viewer", None)
    with pytest.raises(InvalidInput, match="at least 10"):
        access.add_user(CLI, "short", "viewer", "abc")
    with pytest.raises(InvalidInput, match="not one of"):
        access.add_user(CLI, "x", "owner", None)
    access.set_role(Actor("ada", "admin"), "ed", "viewer")
    assert access.current("ed") == Actor("ed", "viewer")
    [event] = access.events(action="user.role")
    assert (event.actor, event.before, event.after) == ("ada", "role: editor", "role: viewer")
    with pytest.raises(AccessDenied, match=r"Your role \(viewer\) cannot manage users"):
        access.remove_user(Actor("ed", "viewer"), "ada")
    with pytest.raises(SignInFailed):
        access.authenticate("ed", "")  # no password: signs in only through single sign-on


def test_keys_are_stored_as_hashes_scoped_expire_and_revoke(access):
    new = access.create_key(LOCAL_ADMIN, "app", models=["openai/*", "route/main"],
                            prompts=["faq"], rpm=5)
    row = new.key
    assert row.key_hash == hash_key(new.secret) and new.secret not in repr(row)
    who = access.verify_key(new.secret)
    assert (who.kind, who.key_prefix, who.rpm) == ("key", row.prefix, 5)
    assert who.may_use_model("openai/gpt-4o") and who.may_use_model("route/main")
    assert not who.may_use_model("anthropic/claude-haiku-4-5")
    assert who.may_use_prompt("faq") and not who.may_use_prompt("other")
    for bad in (None, "", "sk-x", new.secret + "x", f"trl_{row.prefix}_guess"):
        with pytest.raises(Unauthenticated):
            access.verify_key(bad)
    access.revoke_key(LOCAL_ADMIN, row.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        access.verify_key(new.secret)  # this replica drops its cached copy at once
    with pytest.raises(InvalidInput, match="in the past"):
        access.create_key(LOCAL_ADMIN, "late", expires_at=utcnow() - timedelta(1))
    events = access.events(action="key")
    assert [e.action for e in events] == ["key.revoke", "key.create"]
    assert "models: openai/*, route/main" in events[1].after


def test_audit_filters_and_csv(access):
    access.audit(Actor("ada", "admin"), "budget.save", "daily", before={"limit_usd": 5.0},
                 after={"limit_usd": 10.0, "period": "daily"})
    access.audit(Actor("ed", "editor"), "document.delete", "handbook.pdf")
    assert [e.actor for e in access.events()] == ["ed", "ada"]
    assert [e.target for e in access.events(actor="ada")] == ["daily"]
    assert access.events(action="budget")[0].after == "limit_usd: 10; period: daily"
    assert access.events(since=utcnow() + timedelta(minutes=1)) == []
    csv = access.events_csv(actor="ada").splitlines()
    assert csv[0] == "time (UTC),actor,action,target,before,after"
    assert csv[1].endswith(",ada,budget.save,daily,limit_usd: 5,limit_usd: 10; period: daily")


def test_migration_downgrades_and_upgrades(db):
    downgrade(db, "0008_dashboard_group_indexes")
    tables = set(inspect(db).get_table_names())
    assert not {"app_user", "api_key", "audit_event"} & tables
    migrate(db)
    assert {"app_user", "api_key", "audit_event"} <= set(inspect(db).get_table_names())
