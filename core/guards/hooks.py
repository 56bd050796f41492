"""The guard stages: what runs in the engine's input_guards and output_guards hooks,
and the filter that keeps raw PII out of every row the engine writes.

Per call, a `_CallState` in `ctx.extra["guards"]` holds the policy, the
placeholder mapping (in memory only, gone with the call) and the redacted
texts for storage. The guard report (`ctx.guard_report`, stored in
call_log.guard_actions) holds counts, scores and decisions, never values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from core.config import Settings
from core.engine.pipeline import STORED_INPUT_KEY, STORED_NOTE_KEY
from core.engine.types import CallContext
from core.guards import injection, validation
from core.guards.errors import GuardBlocked, OutputSchemaInvalid, RedactionUnavailable
from core.guards.pii import Finding, PiiScanner, Redactor, storage_thresholds
from core.guards.policy import CustomRecognizer, GuardPolicy, PolicyStore
from core.providers import errors as E
from core.providers.base import ChatRequest, Completion, Message, Usage
from core.telemetry.store import CallRecord

log = logging.getLogger(__name__)

STATE_KEY = "guards"
#: Set by the input stage when the stream must be held back until output guards ran.
BUFFER_KEY = "buffer_stream"
#: `ctx.extra[REDACT_KEY](text)`: `text` as this call may store it.
REDACT_KEY = "redact_for_storage"

_REPAIR_PROMPT = (
    "Your previous answer did not match the required JSON Schema: {error}. Reply again with "
    "only the corrected JSON value, no prose and no code fence.\nThe schema:\n{schema}"
)


@dataclass
class _CallState:
    policy: GuardPolicy
    redactor: Redactor = field(default_factory=Redactor)
    #: Text as sent (or as it stands in ctx.messages) -> the text storage may hold.
    stored: dict[str, str] = field(default_factory=dict)
    #: Placeholders made from the user's input (the only ones de-anonymisation restores).
    input_tokens: set[str] = field(default_factory=set)
    user_output: str | None = None
    stored_output: str | None = None


class _ScanCache:
    """Findings per (text, settings): chat history is re-sent every turn, scanned once."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._data: OrderedDict[tuple, list[Finding]] = OrderedDict()

    def get(self, key: tuple) -> list[Finding] | None:
        hit = self._data.get(key)
        if hit is not None:
            self._data.move_to_end(key)
        return hit

    def put(self, key: tuple, value: list[Finding]) -> None:
        self._data[key] = value
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class Guards:
    """PII, injection, validation and leak guards for one engine."""

    def __init__(self, settings: Settings, policies: PolicyStore) -> None:
        self.settings = settings
        self.policies = policies
        self.scanner = PiiScanner(settings.guard_spacy_model)
        self._scans = _ScanCache()

    # -- installation ------------------------------------------------------------
    def install(self, engine: Any) -> None:
        """Register the stages and the storage filters on `engine` (and its telemetry).

        The hooks are registered as required; each stage handles a broken guard
        itself: the call goes on degraded, unless the PII scan breaks where the
        policy needs text redacted before it leaves, when it fails closed.
        """
        engine.add_hook("input_guards", self.input_stage, optional=False)
        # Text added after the input guards (retrieved document context) is
        # redacted like the user's own before it leaves the machine.
        engine.add_hook("context_guards", self.context_stage, optional=False)
        engine.add_hook("output_guards", self.output_stage, optional=False)
        engine.record_filters.append(self.redact_record)
        engine.telemetry.text_filter = self.redact_text

    # -- policy ----------------------------------------------------------------------
    def policy_for(self, ctx: CallContext) -> GuardPolicy:
        name = ctx.request.options.get("guard_policy") or self.settings.guard_default_policy
        policy = self.policies.get(str(name))
        if policy is None:
            known = ", ".join(self.policies.names())
            raise E.InvalidRequest(f"There is no guard policy named '{name}'; pick one of {known}.")
        return policy

    def _custom(self) -> tuple[CustomRecognizer, ...]:
        return tuple(self.policies.recognizers(enabled_only=True))

    def scan(self, text: str, thresholds: dict[str, float]) -> list[Finding]:
        custom = self._custom()
        key = (text, tuple(sorted(thresholds.items())), tuple(r.model_dump_json() for r in custom))
        hit = self._scans.get(key)
        if hit is None:
            hit = self.scanner.scan(text, thresholds, custom)
            self._scans.put(key, hit)
        return hit

    def _storage_thresholds(self, policy: GuardPolicy | None) -> dict[str, float]:
        merged = storage_thresholds(policy.entities if policy else {})
        for rec in self._custom():
            merged.setdefault(rec.entity_type, 0.0)
        return merged

    # -- input -----------------------------------------------------------------------
    def input_stage(self, ctx: CallContext) -> dict[str, Any] | None:
        start = time.perf_counter()
        policy = self.policy_for(ctx)
        state = _CallState(policy)
        ctx.extra[STATE_KEY] = state
        # For stages that persist text (the response cache): they store what this returns.
        ctx.extra[REDACT_KEY] = lambda text: self.redact_for_storage(ctx, text)
        report = ctx.guard_report
        report["policy"] = policy.name
        timings: dict[str, float] = {}

        t = time.perf_counter()
        report["validation"] = self._validate_input(ctx)
        timings["validate"] = _ms(t)

        t = time.perf_counter()
        try:
            report["pii"] = self._redact_input(ctx, state)
        except Exception as exc:  # noqa: BLE001 - degrade, unless that would leak
            self._redaction_failed(ctx, state, "input_guards", "pii", exc)
            report["pii"] = {"input": {}, "action": "error"}
        timings["pii"] = _ms(t)

        if policy.injection != "allow":
            t = time.perf_counter()
            try:
                report["injection"] = self._check_injection(ctx, policy)
            except Exception as exc:  # noqa: BLE001 - a broken detector degrades the call
                _degrade(ctx, "input_guards", "injection", exc)
                report["injection"] = {"decision": "error"}
            timings["injection"] = _ms(t)

        needs_rewrite = (
            policy.pii_output == "redact"
            or (policy.deanonymize and bool(state.input_tokens))
            or "json_schema" in ctx.request.options
            or policy.leak == "block"
        )
        if ctx.stream and needs_rewrite:
            # Deltas already shown cannot be taken back, so the answer is held
            # until the output guards have rewritten it (TTFT becomes the full time).
            ctx.extra[BUFFER_KEY] = True
            report["stream_buffered"] = True
        timings["total"] = _ms(start)
        report["timings_ms"] = {"input": timings}
        decision = (report.get("injection") or {}).get("decision")
        if decision == "block":
            ctx.status = "blocked"
            ctx.cost_usd = 0.0
            score = report["injection"]["score"]
            raise GuardBlocked(
                f"it looks like a prompt-injection attempt (score {score:.2f})",
                policy=policy.name,
                report=_public(report),
            )
        return _public_detail(report, "input")

    def _validate_input(self, ctx: CallContext) -> dict[str, Any]:
        limit = self.settings.guard_max_input_tokens
        tokens = validation.estimate_tokens([m.content for m in ctx.messages])
        if tokens > limit:
            raise E.InvalidRequest(
                f"The input is about {tokens:,} tokens; the limit is {limit:,}. "
                "Shorten it or split it into parts."
            )
        out: dict[str, Any] = {"input_tokens_est": tokens, "input_tokens_limit": limit}
        schema = ctx.request.options.get("json_schema")
        if schema is not None:
            problem = validation.check_schema(schema)
            if problem:
                raise E.InvalidRequest(f"The output format cannot be used: {problem}.")
            out["json_schema"] = "requested"
        return out

    def _redact_input(self, ctx: CallContext, state: _CallState) -> dict[str, Any]:
        policy = state.policy
        store_at = self._storage_thresholds(policy)
        policy_at = {} if policy.pii_input == "off" else policy.entities
        send_redacted = not policy.sends_raw_to(ctx.provider_name)
        counts: dict[str, int] = {}
        sent = [
            self._redact_message(state, m, store_at, policy_at, counts, send=send_redacted)
            for m in ctx.messages
        ]
        state.input_tokens = set(state.redactor.to_value)
        if send_redacted:
            ctx.messages[:] = sent
        if policy.pii_input == "off":
            action = "off"
        elif policy.pii_input == "flag":
            action = "flagged" if counts else "none"
        elif not send_redacted:
            action = "exempt"
        else:
            action = "redacted" if counts else "none"
        return {"input": counts, "action": action}

    def context_stage(self, ctx: CallContext) -> dict[str, Any] | None:
        """Redact PII in text added after the input guards ran (retrieved document
        context), with the call's own placeholders, when the policy redacts input."""
        state: _CallState | None = ctx.extra.get(STATE_KEY)
        if state is None:
            return None
        policy = state.policy
        if policy.sends_raw_to(ctx.provider_name):
            return None
        start = time.perf_counter()
        counts: dict[str, int] = {}
        pii = ctx.guard_report.setdefault("pii", {})
        try:
            counts = self._redact_context(ctx, state)
            pii["context_action"] = "redacted" if counts else "none"
        except Exception as exc:  # noqa: BLE001 - only reached when redaction is required
            self._redaction_failed(ctx, state, "context_guards", "context_pii", exc)
        pii["context"] = counts
        if counts and ctx.stream and policy.deanonymize:
            # The answer may name the documents' placeholders, which are put back
            # afterwards: hold the stream until then, as the input stage does.
            ctx.extra[BUFFER_KEY] = True
            ctx.guard_report["stream_buffered"] = True
        ctx.guard_report.setdefault("timings_ms", {}).setdefault("input", {})["context_pii"] = (
            _ms(start)
        )
        return {"context_pii": counts}

    def _redact_context(self, ctx: CallContext, state: _CallState) -> dict[str, int]:
        policy = state.policy
        store_at = self._storage_thresholds(policy)
        counts: dict[str, int] = {}
        for i, message in enumerate(ctx.messages):
            if message.content in state.stored:
                continue  # the input stage has seen it
            ctx.messages[i] = self._redact_message(
                state, message, store_at, policy.entities, counts, send=True
            )
        state.input_tokens = set(state.redactor.to_value)
        return counts

    def _redact_message(
        self,
        state: _CallState,
        message: Message,
        store_at: dict[str, float],
        policy_at: dict[str, float],
        counts: dict[str, int],
        *,
        send: bool,
    ) -> Message:
        """Scan one message: note its storable (fully redacted) text, count the
        findings over the policy's thresholds, and return the message to send
        (with those findings replaced by placeholders when `send`)."""
        findings = self.scan(message.content, store_at)
        stored, _ = state.redactor.redact(message.content, findings)
        mine = [f for f in findings if f.score >= policy_at.get(f.entity_type, 1.01)]
        for f in mine:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
        if send and mine:
            text = stored if len(mine) == len(findings) else state.redactor.redact(
                message.content, mine
            )[0]
            message = Message(message.role, text)
        state.stored[message.content] = stored
        return message

    def _redaction_failed(
        self, ctx: CallContext, state: _CallState, stage: str, part: str, exc: Exception
    ) -> None:
        """A PII scan broke. If the policy needs the text redacted before it leaves
        the machine, the call fails closed; otherwise it goes on, degraded."""
        if not state.policy.sends_raw_to(ctx.provider_name):
            log.error("PII redaction failed; call not sent", exc_info=exc)
            raise RedactionUnavailable(
                f"{type(exc).__name__} in {part}", provider=ctx.provider_name
            ) from exc
        _degrade(ctx, stage, part, exc)

    def _check_injection(self, ctx: CallContext, policy: GuardPolicy) -> dict[str, Any]:
        text = next((m.content for m in reversed(ctx.request.messages) if m.role == "user"), "")
        # Score the raw text: placeholders would hide nothing an attacker relies on,
        # but the classifier was trained on raw prompts.
        verdict = injection.detect(text)
        over = verdict.score >= policy.injection_threshold
        decision = "pass" if not over else ("block" if policy.injection == "block" else "flag")
        return {
            **verdict.as_report(),
            "threshold": policy.injection_threshold,
            "decision": decision,
        }

    # -- output ----------------------------------------------------------------------
    def output_stage(self, ctx: CallContext) -> dict[str, Any] | None:
        state: _CallState | None = ctx.extra.get(STATE_KEY)
        if state is None or ctx.result is None:
            return None
        start = time.perf_counter()
        policy = state.policy
        report = ctx.guard_report
        timings = report.setdefault("timings_ms", {}).setdefault("output", {})
        schema = ctx.request.options.get("json_schema")
        if schema is not None:
            t = time.perf_counter()
            report.setdefault("validation", {})["json_schema"] = self._check_output_schema(
                ctx, schema
            )
            timings["schema"] = _ms(t)

        text = ctx.result.text
        if policy.leak != "off" and ctx.request.system:
            t = time.perf_counter()
            try:
                score = validation.leak_score(state.redactor.restore(text), ctx.request.system)
            except Exception as exc:  # noqa: BLE001 - a broken check degrades the call
                _degrade(ctx, "output_guards", "leak", exc)
                score = 0.0
            over = score >= policy.leak_threshold
            decision = "pass" if not over else ("block" if policy.leak == "block" else "flag")
            report["leak"] = {"score": round(score, 3), "threshold": policy.leak_threshold,
                              "decision": decision}
            timings["leak"] = _ms(t)
            if decision == "block":
                ctx.status = "blocked"
                state.stored_output = self._redact_fresh(state, text, policy)
                raise GuardBlocked(
                    "the answer repeated the system prompt", policy=policy.name,
                    report=_public(report),
                )

        t = time.perf_counter()
        try:
            findings = self.scan(text, self._storage_thresholds(policy))
        except Exception as exc:  # noqa: BLE001
            # The answer is the user's to see; the log row is still redacted (or its
            # text dropped) by the record filter.
            _degrade(ctx, "output_guards", "output_pii", exc)
            report.setdefault("pii", {})["output_action"] = "error"
            timings["total"] = _ms(start)
            return _public_detail(report, "output")
        # New placeholders here are for values the model wrote; the user's own
        # values map to the placeholders made from the input.
        stored, _ = state.redactor.redact(text, findings)
        stored = state.redactor.replace_known(stored)
        policy_at = {} if policy.pii_output == "off" else policy.entities
        mine = [f for f in findings if f.score >= policy_at.get(f.entity_type, 1.01)]
        counts: dict[str, int] = {}
        for f in mine:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
        user_text = text
        if policy.pii_output == "redact" and mine:
            user_text = state.redactor.redact(text, mine)[0]
        if policy.deanonymize and state.input_tokens:
            user_text = _restore(user_text, state)
        pii = report.setdefault("pii", {})
        pii["output"] = counts
        if policy.pii_output == "off" or not counts:
            pii["output_action"] = "off" if policy.pii_output == "off" else "none"
        else:
            pii["output_action"] = "redacted" if policy.pii_output == "redact" else "flagged"
        pii["deanonymized"] = bool(policy.deanonymize and state.input_tokens and user_text != text)
        timings["pii"] = _ms(t)
        state.user_output, state.stored_output = user_text, stored
        if user_text != text:
            ctx.result = replace(ctx.result, text=user_text)
        timings["total"] = _ms(start)
        return _public_detail(report, "output")

    def _check_output_schema(self, ctx: CallContext, schema: dict) -> str:
        assert ctx.result is not None
        problem = validation.schema_errors(ctx.result.text, schema)
        if problem is None:
            return "valid"
        if ctx.provider is None:
            raise OutputSchemaInvalid(problem)
        req = ctx.request
        timeout = req.timeout
        deadline = ctx.extra.get("deadline")  # the reliability layer's total deadline
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0.1:
                raise OutputSchemaInvalid(problem, no_time_to_repair=True)
            timeout = min(timeout, remaining) if timeout else remaining
        repair = ChatRequest(
            model=ctx.model_name or "",
            messages=[
                *ctx.messages,
                Message("assistant", ctx.result.text),
                Message(
                    "user",
                    _REPAIR_PROMPT.format(error=problem, schema=json.dumps(schema)),
                ),
            ],
            temperature=req.temperature,
            max_tokens=req.max_tokens,
            top_p=req.top_p,
            stop=req.stop,
            timeout=timeout,
            json_schema=schema,
        )
        again = ctx.provider.complete(repair)
        usage = ctx.result.usage
        # The repair is part of this call: its tokens (and cost) count.
        ctx.result = Completion(
            text=again.text,
            usage=Usage(
                usage.input_tokens + again.usage.input_tokens,
                usage.output_tokens + again.usage.output_tokens,
                usage.cached_tokens + again.usage.cached_tokens,
            ),
            finish_reason=again.finish_reason,
            model=again.model or ctx.result.model,
        )
        second = validation.schema_errors(again.text, schema)
        if second is not None:
            ctx.guard_report.setdefault("validation", {})["json_schema"] = "failed"
            raise OutputSchemaInvalid(f"after one repair attempt, {second}")
        return "repaired"

    # -- storage -----------------------------------------------------------------------
    def redact_text(self, text: str | None) -> str | None:
        """Free text on its way to the database (feedback comments), redacted."""
        if not text:
            return text
        policy = self.policies.get(self.settings.guard_default_policy)
        return Redactor().redact(text, self.scan(text, self._storage_thresholds(policy)))[0]

    def redact_for_storage(self, ctx: CallContext, text: str) -> str:
        """`text` as this call may store it (for stages that persist text, e.g. a cache)."""
        state: _CallState | None = ctx.extra.get(STATE_KEY)
        if state is not None and text in state.stored:
            return state.stored[text]
        if state is not None and text == state.user_output and state.stored_output is not None:
            return state.stored_output
        return self._redact_fresh(state, text, state.policy if state else None)

    def _redact_fresh(self, state: _CallState | None, text: str, policy: GuardPolicy | None) -> str:
        redactor = state.redactor if state else Redactor()
        out, _ = redactor.redact(text, self.scan(text, self._storage_thresholds(policy)))
        return redactor.replace_known(out)

    def redact_record(self, ctx: CallContext, record: CallRecord) -> None:
        """Rewrite the log row's texts so no raw value reaches the database.

        Only what came from outside is redacted: the caller's messages (as the
        engine keeps them: a refused input is already cut short), the answer,
        and the caller's values quoted in an error sentence. Trellis's own
        sentences ("Max tokens must be ...", the note on a shortened input) stay
        as written.
        """
        state: _CallState | None = ctx.extra.get(STATE_KEY)
        stored = ctx.extra.get(STORED_INPUT_KEY)
        if stored is None:
            stored = [{"role": m.role, "content": m.content} for m in ctx.messages]
        texts = self._redact_many(ctx, state, [m["content"] for m in stored])
        kept = [{"role": m["role"], "content": t} for m, t in zip(stored, texts, strict=True)]
        note = ctx.extra.get(STORED_NOTE_KEY)
        if note:
            kept.append({"role": "note", "content": note})
        record.input_text = json.dumps(kept, ensure_ascii=False)
        if record.output_text:
            if state is not None and state.stored_output is not None and (
                record.output_text in (state.user_output, None)
            ):
                record.output_text = state.stored_output
            else:
                record.output_text = self.redact_for_storage(ctx, record.output_text)
        if record.error_message:
            record.error_message = self._redact_error(ctx, record.error_message)
        if state is not None and state.redactor.to_value:
            for span in record.spans:
                if span.detail:
                    span.detail = _replace_in(span.detail, state.redactor)

    def _redact_many(
        self, ctx: CallContext, state: _CallState | None, texts: list[str]
    ) -> list[str]:
        """`redact_for_storage` of each text; the ones no stage has scanned yet (a
        refused input) go through the analyzer together, in one call: its cost per
        call, not per character, dominates for a handful of short messages."""
        fresh = [t for t in dict.fromkeys(texts) if t and not (state and t in state.stored)]
        done: dict[str, str] = {}
        if len(fresh) > 1 and not any(_BATCH_SEP in t for t in fresh):
            joined = self._redact_fresh(state, _BATCH_SEP.join(fresh), _policy(state))
            parts = joined.split(_BATCH_SEP)
            if len(parts) == len(fresh):
                done = dict(zip(fresh, parts, strict=True))
        return [done[t] if t in done else self.redact_for_storage(ctx, t) for t in texts]

    def _redact_error(self, ctx: CallContext, message: str) -> str:
        """The error sentence with the caller's values in it redacted, and only those.

        An error that says which of its parts are the caller's (`quoted`, set by
        the validate stage) has just those parts looked at; any other error has
        the findings redacted whose text the caller sent (a provider repeating a
        name from the prompt), so a word of Trellis's own sentence that merely
        looks like a name stays.
        """
        state: _CallState | None = ctx.extra.get(STATE_KEY)
        redactor = state.redactor if state else Redactor()
        quoted = getattr(ctx.error, "quoted", None)
        if quoted is not None and not quoted:
            return redactor.replace_known(message)
        findings = self.scan(message, self._storage_thresholds(state.policy if state else None))
        if quoted:
            spans = [(m.start(), m.end()) for value in quoted
                     for m in re.finditer(re.escape(value), message)]
            mine = [f for f in findings if any(f.start < e and s < f.end for s, e in spans)]
        else:
            sent = _caller_text(ctx)
            mine = [f for f in findings if message[f.start:f.end] in sent]
        out, _ = redactor.redact(message, mine)
        return redactor.replace_known(out)


#: Joins texts scanned in one analyzer call; no entity spans a blank line.
_BATCH_SEP = "\n\n\x1e\n\n"


def _policy(state: _CallState | None) -> GuardPolicy | None:
    return state.policy if state else None


def _caller_text(ctx: CallContext) -> str:
    """Everything the caller sent that an error sentence could repeat."""
    parts = [m.content for m in ctx.messages
             if isinstance(m, Message) and isinstance(m.content, str)]
    parts.append(str(ctx.model_id))
    with contextlib.suppress(TypeError, ValueError):
        parts.append(json.dumps(ctx.request.options, ensure_ascii=False, default=str))
    return "\n".join(parts)


def _degrade(ctx: CallContext, stage: str, part: str, exc: Exception) -> None:
    """Record that one guard broke and the call went on without it."""
    log.warning("guard %s failed; call continues degraded", part, exc_info=exc)
    if stage not in ctx.degraded:
        ctx.degraded.append(stage)
    ctx.guard_report.setdefault("errors", {})[part] = type(exc).__name__


def _restore(text: str, state: _CallState) -> str:
    from core.guards.pii import PLACEHOLDER

    return PLACEHOLDER.sub(
        lambda m: state.redactor.to_value[m.group(0)]
        if m.group(0) in state.input_tokens
        else m.group(0),
        text,
    )


def _replace_in(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.replace_known(value)
    if isinstance(value, dict):
        return {k: _replace_in(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in(v, redactor) for v in value]
    return value


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)


def _public(report: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(report))


def _public_detail(report: dict[str, Any], side: str) -> dict[str, Any]:
    """The span detail: the decisions of this side, never a value."""
    detail: dict[str, Any] = {"policy": report.get("policy")}
    pii = report.get("pii") or {}
    if side == "input":
        detail["pii"] = {"counts": pii.get("input"), "action": pii.get("action")}
        if "injection" in report:
            detail["injection"] = {
                k: report["injection"].get(k) for k in ("score", "decision")
            }
    else:
        detail["pii"] = {"counts": pii.get("output"), "action": pii.get("output_action")}
        if "leak" in report:
            detail["leak"] = report["leak"]
    if report.get("errors"):
        detail["errors"] = dict(report["errors"])
    return detail
