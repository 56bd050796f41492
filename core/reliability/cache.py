"""Response caches: exact match, then semantic similarity.

The exact key hashes the model, parameters, prompt version and the whole
conversation. The semantic cache embeds the last user message with the
bundled MiniLM model and matches it (cosine above a threshold) only within
the same scope: same model, parameters, prompt version and earlier turns.
Entries live in the database so every replica shares them; they expire
after a TTL and can be invalidated per model or wholesale. Stored text is
the text the engine holds after the input guards, i.e. already redacted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, select, update

from core.costs import PriceBook
from core.db import session_scope
from core.engine.types import CallContext
from core.providers.base import Completion, Usage
from core.reliability.config import ReliabilityConfig
from core.reliability.models import CacheEntry
from core.telemetry.models import utcnow

#: Semantic lookups compare against at most this many recent entries of a scope.
MAX_CANDIDATES = 2000


def _digest(payload: Any) -> str:
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def keys(ctx: CallContext) -> tuple[str, str, str]:
    """(exact key, scope, last user message) for a call."""
    req = ctx.request
    last_user = next(
        (i for i in range(len(ctx.messages) - 1, -1, -1) if ctx.messages[i].role == "user"), -1
    )
    earlier = [(m.role, m.content) for m in ctx.messages[:last_user]]
    query = ctx.messages[last_user].content if last_user >= 0 else ""
    scope = _digest(
        {
            "model": ctx.model_id,
            "params": [req.temperature, req.max_tokens, req.top_p, req.stop],
            "prompt": [req.prompt_name, req.prompt_version, req.variant],
            "earlier": earlier,
            "options": {k: v for k, v in sorted(req.options.items()) if k != "cache"},
        }
    )
    return _digest([scope, query]), scope, query


class ResponseCache:
    def __init__(
        self,
        db: Engine,
        prices: PriceBook,
        config: Callable[[], ReliabilityConfig],
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        self._db = db
        self._prices = prices
        self._config = config
        self._embed = embed

    def _embedder(self) -> Callable[[list[str]], np.ndarray]:
        if self._embed is None:
            from core.rag.embeddings import embed

            self._embed = embed
        return self._embed

    # -- hooks ------------------------------------------------------------
    def lookup(self, ctx: CallContext) -> dict[str, Any] | None:
        mode = self._config().cache_mode
        if mode == "off" or not ctx.request.cache:
            return {"mode": mode, "used": False}
        key, scope, query = keys(ctx)
        ctx.extra["cache_keys"] = (key, scope, query)
        now = utcnow()
        with session_scope(self._db) as s:
            entry = None
            if mode in ("exact", "both"):
                entry = s.execute(
                    select(CacheEntry).where(CacheEntry.key == key, CacheEntry.expires_at > now)
                ).scalar_one_or_none()
                hit, similarity = ("exact", 1.0) if entry else (None, None)
            if entry is None and mode in ("semantic", "both"):
                entry, similarity = self._semantic(s, ctx, scope, query, now)
                hit = "semantic" if entry else None
            if entry is None:
                return {"mode": mode, "hit": None}
            s.execute(
                update(CacheEntry).where(CacheEntry.id == entry.id).values(hits=CacheEntry.hits + 1)
            )
            ctx.cache_hit = hit
            ctx.cost_saved_usd = entry.cost_usd
            ctx.result = Completion(entry.response_text, Usage(**entry.usage), "stop", entry.model)
            return {
                "mode": mode,
                "hit": hit,
                "similarity": round(float(similarity), 4),
                "entry": entry.id,
            }

    def _semantic(self, s, ctx: CallContext, scope: str, query: str, now):  # noqa: ANN001, ANN202
        redact = ctx.extra.get("redact_for_storage") or (lambda text: text)
        vector = self._embedder()([redact(query)])[0]
        ctx.extra["cache_vector"] = vector
        rows = s.execute(
            select(CacheEntry.id, CacheEntry.embedding)
            .where(
                CacheEntry.scope == scope,
                CacheEntry.expires_at > now,
                CacheEntry.embedding.is_not(None),
            )
            .order_by(CacheEntry.id.desc())
            .limit(MAX_CANDIDATES)
        ).all()
        if not rows:
            return None, None
        matrix = np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows])
        sims = matrix @ vector
        best = int(np.argmax(sims))
        if sims[best] < self._config().semantic_threshold:
            return None, None
        return s.get(CacheEntry, rows[best].id), float(sims[best])

    def store(self, ctx: CallContext) -> dict[str, Any] | None:
        mode = self._config().cache_mode
        result = ctx.result
        if (
            mode == "off"
            or not ctx.request.cache
            or ctx.cache_hit
            or result is None
            or ctx.status != "ok"
            or ctx.error is not None
            or not result.text
        ):
            return None
        key, scope, query = ctx.extra.get("cache_keys") or keys(ctx)
        # The guards may have sent raw text (a local model exempt by policy) or put
        # the caller's values back into the answer: store only the redacted forms.
        redact = ctx.extra.get("redact_for_storage") or (lambda text: text)
        query = redact(query)
        vector = None
        if mode in ("semantic", "both"):
            vector = ctx.extra.get("cache_vector")
            if vector is None:
                vector = self._embedder()([query])[0]
        cost = None
        if ctx.provider_name and ctx.model_name:
            cost = self._prices.cost(ctx.provider_name, ctx.model_name, result.usage)
        now = utcnow()
        values = {
            "scope": scope,
            "model": f"{ctx.provider_name}/{ctx.model_name}",
            "prompt_text": query,
            "response_text": redact(result.text),
            "usage": {
                "input_tokens": result.usage.input_tokens,
                "output_tokens": result.usage.output_tokens,
                "cached_tokens": result.usage.cached_tokens,
            },
            "cost_usd": cost,
            "embedding": np.asarray(vector, dtype=np.float32).tobytes()
            if vector is not None
            else None,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self._config().cache_ttl_s),
        }
        with session_scope(self._db) as s:
            existing = s.execute(
                select(CacheEntry).where(CacheEntry.key == key)
            ).scalar_one_or_none()
            if existing is None:
                s.add(CacheEntry(key=key, hits=0, **values))
            else:
                for name, value in values.items():
                    setattr(existing, name, value)
        return {"stored": True, "semantic": vector is not None}

    # -- operations -------------------------------------------------------
    def invalidate(self, model: str | None = None) -> int:
        """Drop entries (for one served model, `provider/model`, or all); returns how many."""
        with session_scope(self._db) as s:
            q = delete(CacheEntry)
            if model:
                q = q.where(CacheEntry.model == model)
            return s.execute(q).rowcount or 0

    def purge_expired(self) -> int:
        with session_scope(self._db) as s:
            return (
                s.execute(delete(CacheEntry).where(CacheEntry.expires_at <= utcnow())).rowcount or 0
            )

    def stats(self) -> dict[str, float]:
        with session_scope(self._db) as s:
            entries, hits = s.execute(
                select(func.count(CacheEntry.id), func.coalesce(func.sum(CacheEntry.hits), 0))
            ).one()
        return {"entries": int(entries), "hits": int(hits)}
