"""Named fallback chains. A request for `route/<name>` is served by the
first healthy deployment of that route's chain; any other model id is a
chain of one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from sqlalchemy import Engine, select

from core.db import session_scope
from core.forms import name_problem
from core.providers import errors as E
from core.reliability.models import Route
from core.telemetry.models import utcnow

PREFIX = "route/"
_TTL_S = 2.0


class RouteTable:
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, list[str]]] | None = None

    def _routes(self) -> dict[str, list[str]]:
        with self._lock:
            now = time.monotonic()
            if self._cache is None or now - self._cache[0] > _TTL_S:
                with session_scope(self._db) as s:
                    routes = {
                        r.name: list(r.deployments) for r in s.execute(select(Route)).scalars()
                    }
                self._cache = (now, routes)
            return self._cache[1]

    def chain(self, model_id: str) -> list[str]:
        if not model_id.startswith(PREFIX):
            return [model_id]
        name = model_id[len(PREFIX) :]
        chain = self._routes().get(name)
        if not chain:
            raise E.InvalidRequest(
                f"There is no route called '{name}'; create it on the Operations page "
                "or pick a model."
            )
        return chain

    def all(self) -> dict[str, list[str]]:
        return dict(self._routes())

    def save(
        self, name: str, deployments: list[str], *, providers: Iterable[str] | None = None
    ) -> None:
        """Save a route; with `providers` (the names Trellis knows), a deployment on any
        other provider is refused (a typo would only fail at call time)."""
        name = name.strip()
        cleaned = [d.strip() for d in deployments if d.strip()]
        if not name or "/" in name:
            raise E.InvalidRequest("A route needs a name without '/'.")
        if not cleaned:
            raise E.InvalidRequest("A route needs at least one deployment (provider/model).")
        bad = [d for d in cleaned if "/" not in d or d.startswith(PREFIX)]
        if bad:
            raise E.InvalidRequest(
                "Write deployments as provider/model (e.g. openai/gpt-4o-mini); "
                f"not: {', '.join(bad)}."
            )
        if problem := name_problem(name):
            raise E.InvalidRequest(f"The route was not saved. {problem}")
        if providers is not None:
            known = set(providers)
            unknown = [d for d in cleaned if d.split("/", 1)[0] not in known]
            if unknown:
                raise E.InvalidRequest(
                    f"Trellis has no provider for {', '.join(unknown)}; start each line with "
                    f"one of: {', '.join(sorted(known))}."
                )
        with session_scope(self._db) as s:
            row = s.execute(select(Route).where(Route.name == name)).scalar_one_or_none()
            if row is None:
                row = Route(name=name, deployments=cleaned)
                s.add(row)
            row.deployments = cleaned
            row.updated_at = utcnow()
        self._cache = None

    def delete(self, name: str) -> None:
        with session_scope(self._db) as s:
            row = s.execute(select(Route).where(Route.name == name)).scalar_one_or_none()
            if row is not None:
                s.delete(row)
        self._cache = None
