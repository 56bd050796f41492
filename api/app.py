"""The gateway's routes: thin, like pages. Parse, check access, call core, shape.

`POST /v1/chat/completions` speaks OpenAI's Chat Completions API (JSON and
SSE); every completion runs through the same engine as the app, so it is
logged, costed, guarded and limited. Every response carries
`x-trellis-call-id` (the call's trace id): send it back to `/v1/feedback`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from sqlalchemy import text
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError, JSONResponse, body, describe, dumps, loads
from api.metrics import Metrics
from api.refusals import refusal_record
from api.schemas import ChatBody, FeedbackBody, extensions
from core.access import Actor
from core.engine import CompletionRequest
from core.engine.pipeline import EngineStream, InternalError
from core.providers import errors as E
from core.providers.base import Message
from core.reliability.budgets import estimate_input_tokens
from core.services import Services

log = logging.getLogger("trellis.api")

CALL_ID = "x-trellis-call-id"
#: OpenAI parameters the gateway does not act on but OpenAI-compatible providers take:
#: sent on to them as they are; any other unknown field is dropped and named.
PASS_THROUGH = frozenset({"seed", "frequency_penalty", "presence_penalty", "logit_bias",
                          "reasoning_effort", "service_tier", "verbosity"})
_PASS_THROUGH_PROVIDERS = frozenset({"openai", "compat"})
IGNORED = "x-trellis-ignored-fields"


def _error_response(err: E.TrellisError, call_id: str | None, param: str | None = None
                    ) -> JSONResponse:
    status, type_, code, headers = describe(err)
    if call_id:
        headers[CALL_ID] = call_id
    param = param or getattr(err, "param", None)
    return JSONResponse(body(err.user_message, type_, code, param), status, headers=headers)


def _validation_message(exc: ValidationError | RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    where = ".".join(loc) if loc else None
    msg = first.get("msg", "is not valid")
    if first.get("type") == "missing":
        return f"The request is missing the field '{where}'.", where
    if where:
        return f"The field '{where}' is not valid: {msg}.", where
    return f"The request body is not valid: {msg}.", None


def create_app(services: Services | None = None) -> FastAPI:
    """The gateway on `services` (built from the environment when not given)."""
    state: dict[str, Any] = {"svc": services}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = state["svc"] is None
        if owned:
            state["svc"] = await run_in_threadpool(Services.build)
        # Streams hold a worker thread each; allow as many as the database pool can feed.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 100
        try:
            yield
        finally:
            streams.shutdown(wait=False, cancel_futures=True)
            # Every queued log row is written before the process ends.
            await run_in_threadpool(state["svc"].telemetry.close_writer)
            if owned:
                state["svc"].close()

    app = FastAPI(title="Trellis gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  default_response_class=JSONResponse)
    # One thread per open stream, reading the engine and handing deltas to the event loop.
    streams = ThreadPoolExecutor(max_workers=256, thread_name_prefix="trellis-stream")
    metrics = Metrics()
    app.state.metrics = metrics

    def svc() -> Services:
        return state["svc"]

    # -- errors in OpenAI's shape ------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, where = _validation_message(exc)
        return JSONResponse(body(message, "invalid_request_error", "invalid_value", where), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            msg = (f"There is no endpoint {request.url.path}; "
                   "see the README for the gateway's routes.")
            return JSONResponse(body(msg, "not_found_error", "unknown_url"), 404)
        if exc.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}."
            return JSONResponse(body(msg, "invalid_request_error", "method_not_allowed"), 405)
        return JSONResponse(body(str(exc.detail), "invalid_request_error", None), exc.status_code)

    @app.exception_handler(E.TrellisError)
    async def _on_trellis(request: Request, exc: E.TrellisError) -> JSONResponse:
        return _error_response(exc, None)

    @app.exception_handler(Exception)
    async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s: %s", request.url.path, type(exc).__name__,
                  exc_info=exc)
        msg = "The gateway hit an unexpected problem; it has been logged. Try again."
        return JSONResponse(body(msg, "server_error", "internal"), 500)

    # -- helpers -----------------------------------------------------------
    def authenticate(request: Request) -> Actor:
        auth = request.headers.get("authorization", "")
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer":
            secret = request.headers.get("x-api-key", "")
        return svc().access.verify_key(secret.strip() or None)

    async def read_json(request: Request, seen: dict[str, bytes] | None = None) -> Any:
        limit = int(svc().settings.api_max_body_mb * 1024 * 1024)
        too_big = ApiError(
            413,
            f"The request body is larger than the gateway's limit of "
            f"{svc().settings.api_max_body_mb:g} MB; send less text, or raise "
            "TRELLIS_API_MAX_BODY_MB.",
            code="request_too_large",
        )
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big  # refused before a byte of the body is read
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        raw = b"".join(chunks)
        if seen is not None:
            seen["raw"] = raw
        if not raw.strip():
            raise ApiError(400, "The request body is empty; send a JSON object.",
                           code="invalid_json")
        try:
            return loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            where = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
            raise ApiError(400, f"The request body is not valid JSON{where}.",
                           code="invalid_json") from None

    def check_model(actor: Actor, model: str) -> None:
        s = svc()
        if not actor.may_use_model(model):
            raise ApiError(403, f"This API key may not use the model '{model}'.",
                           type_="permission_error", code="model_not_allowed", param="model")
        if model.startswith("route/"):
            if model[len("route/"):] not in s.reliability.routes.all():
                raise ApiError(404, f"There is no route called '{model}'; GET /v1/models lists "
                               "what this gateway serves.", type_="not_found_error",
                               code="model_not_found", param="model")
            return
        provider = model.split("/", 1)[0] if "/" in model else None
        if provider not in s.registry.names():
            raise ApiError(404, f"The model '{model}' is not known here; write it as "
                           "provider/model (for example openai/gpt-4o-mini); GET /v1/models "
                           "lists them.", type_="not_found_error", code="model_not_found",
                           param="model")

    def build_request(actor: Actor, chat: ChatBody, request: Request, call_id: str
                      ) -> tuple[CompletionRequest, list[str]]:
        ignored = sorted(chat.model_extra or {})
        try:
            ext, unused_meta = extensions(chat.metadata, request.headers)
        except ValueError as err:
            raise ApiError(422, f"The Trellis extension {err}.", code="invalid_value",
                           param="metadata") from None
        ignored += unused_meta
        for m in chat.messages:
            ignored += [f"messages.{k}" for k in (m.model_extra or {})]
        if chat.n not in (None, 1):
            raise ApiError(400, "Only one choice per request is supported (n=1).",
                           param="n", code="unsupported_value")
        if chat.stream_options is not None and not chat.stream:
            ignored.append("stream_options")
        prompt = ext.get("prompt")
        if prompt and not actor.may_use_prompt(prompt):
            raise ApiError(403, f"This API key may not use the prompt '{prompt}'.",
                           type_="permission_error", code="prompt_not_allowed", param="metadata")
        if not chat.messages and not prompt:
            raise ApiError(400, "The request has no messages; send at least one user message "
                           "or name a registry prompt in metadata.", param="messages",
                           code="invalid_value")
        options: dict[str, Any] = {}
        if ext.get("guard_policy"):
            options["guard_policy"] = ext["guard_policy"]
        if ext.get("collection"):
            options["rag"] = {"collection": ext["collection"]}
        rf = chat.response_format or {}
        if rf.get("type") == "json_schema" and svc().settings.guards_enabled:
            options["json_schema"] = (rf.get("json_schema") or {}).get("schema") or {}
        elif rf and rf.get("type") != "text":
            ignored.append("response_format")
        if chat.model.split("/", 1)[0] in _PASS_THROUGH_PROVIDERS:
            passed = {k: v for k, v in (chat.model_extra or {}).items() if k in PASS_THROUGH}
            if passed:
                options["provider_params"] = passed
                ignored = [name for name in ignored if name not in passed]
        stop = [chat.stop] if isinstance(chat.stop, str) else chat.stop
        tags = list(ext.get("tags") or [])
        if actor.budget_tag:
            tags.append(actor.budget_tag)
        req = CompletionRequest(
            messages=[
                Message("system" if m.role == "developer" else m.role, m.text())
                for m in chat.messages
            ],
            model=chat.model,
            temperature=chat.temperature,
            max_tokens=chat.max_completion_tokens or chat.max_tokens,
            top_p=chat.top_p,
            stop=stop,
            source="api",
            user_id=ext.get("user_id") or chat.user,
            session_id=ext.get("session_id"),
            tags=tags or None,
            prompt_name=prompt,
            prompt_version=ext.get("prompt_version"),
            prompt_label=ext.get("prompt_label"),
            variables=ext.get("variables"),
            options=options,
            trace_id=call_id,
            # The answer names the call by its trace id, so the row need not be written
            # before the answer leaves: the batched writer takes it off the request path.
            record_async=True,
        )
        return req, ignored

    async def settle(admission: Any, usage: Any) -> None:
        """A limited key's token count corrected to the call's real tokens."""
        if admission is None or usage is None:
            return
        try:
            await run_in_threadpool(svc().access.settle_key, admission,
                                    usage.input_tokens + usage.output_tokens)
        except Exception:  # noqa: BLE001 - the answer is already on its way
            log.exception("could not settle a key's token count")

    async def refuse(err: E.TrellisError, status: int, call_id: str, started: float,
                     actor: Actor | None, chat: ChatBody | None, raw: bytes | None,
                     stream: bool) -> None:
        """The log row of a request refused before the engine (see api/refusals)."""
        try:
            tel = svc().telemetry
            args = (err, status, call_id, started, actor, chat, raw, stream, tel.text_filter)
            if tel.text_filter is not None and raw and status in (400, 422):
                # The guards' redaction of the body excerpt is real work: off the loop.
                record = await run_in_threadpool(refusal_record, *args)
            else:
                record = refusal_record(*args)
            tel.record_later(record)
        except Exception:  # noqa: BLE001 - the refusal itself must still be answered
            log.exception("could not queue the log row of refused call %s", call_id)

    # -- routes ------------------------------------------------------------
    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):  # noqa: ANN202 - JSON or SSE
        started = time.perf_counter()
        call_id = uuid.uuid4().hex
        stream = False
        actor: Actor | None = None
        chat: ChatBody | None = None
        seen: dict[str, bytes] = {}
        try:
            actor = authenticate(request)
            raw = await read_json(request, seen)
            try:
                chat = ChatBody.model_validate(raw)
            except ValidationError as exc:
                message, where = _validation_message(exc)
                raise ApiError(422, message, code="invalid_value", param=where) from None
            stream = chat.stream
            check_model(actor, chat.model)
            req, ignored = build_request(actor, chat, request, call_id)
            est = estimate_input_tokens(req.messages) + (req.max_tokens or 0)
            admission = None
            if actor.rpm is not None or actor.tpm is not None:
                # The key's counts are shared in the database: one transaction, off the loop.
                admission = await run_in_threadpool(svc().access.admit_key, actor, est)
        except E.TrellisError as err:
            response = _error_response(err, call_id)
            await refuse(err, response.status_code, call_id, started, actor, chat,
                         seen.get("raw"), stream)
            return _finish(response, err, started, stream)
        headers = {CALL_ID: call_id}
        if ignored:
            headers[IGNORED] = ", ".join(ignored)
        if stream:
            return await _stream(req, chat, headers, admission, started)
        try:
            resp = await run_in_threadpool(svc().engine.chat, req)
        except E.TrellisError as err:
            return _finish(_error_response(err, call_id), err, started, False)
        metrics.tokens.labels("input").inc(resp.usage.input_tokens)
        metrics.tokens.labels("output").inc(resp.usage.output_tokens)
        if resp.cost_usd:
            metrics.cost.inc(resp.cost_usd)
        payload = {
            "id": f"chatcmpl-{call_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": resp.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": resp.text, "refusal": None},
                "logprobs": None,
                "finish_reason": resp.finish_reason or "stop",
            }],
            "usage": _usage(resp.usage),
        }
        response = JSONResponse(payload, headers=headers)
        if admission is not None:
            # After the answer has gone: the key's real token count, off its latency.
            response.background = BackgroundTask(settle, admission, resp.usage)
        return _finish(response, None, started, False)

    def _finish(response: Any, err: E.TrellisError | None, started: float, stream: bool) -> Any:
        status = str(response.status_code)
        metrics.requests.labels("chat", status).inc()
        if err is not None:
            metrics.errors.labels("chat", err.error_class).inc()
        if not stream or err is not None:
            metrics.latency.labels("chat", str(stream).lower()).observe(
                time.perf_counter() - started)
        return response

    async def _stream(req: CompletionRequest, chat: ChatBody, headers: dict[str, str],
                      admission: Any, started: float) -> Any:
        feed = _EngineFeed(svc().engine.stream(req), streams)
        # The first delta before the headers: a call refused before it starts gets a
        # proper HTTP status, not an error inside a 200 stream.
        first = await feed.get()
        if first[0] == "error":
            err = first[1]
            return _finish(_error_response(err, headers[CALL_ID]), err, started, True)
        metrics.ttft.observe(time.perf_counter() - started)
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        base = {"id": f"chatcmpl-{headers[CALL_ID]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": chat.model}

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}
            if include_usage:
                data["usage"] = None
            return b"data: " + dumps(data) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            pending = [first]
            try:
                yield chunk({"role": "assistant", "content": ""})
                while True:
                    # Deltas that queued up while the last write went out leave in one write.
                    while (more := feed.get_nowait()) is not None:
                        pending.append(more)
                    texts = [chunk({"content": v}) for k, v in pending if k == "delta" and v]
                    if texts:
                        yield b"".join(texts)
                    kind, value = pending[-1]
                    if kind != "delta":
                        break
                    pending = [await feed.get()]
                if kind == "error":
                    # Headers are gone: the error travels as an SSE event, as OpenAI sends it.
                    _, type_, code, _ = describe(value)
                    metrics.errors.labels("chat", value.error_class).inc()
                    yield b"data: " + dumps(body(value.user_message, type_, code)) + b"\n\n"
                    return
                resp = feed.stream.response
                assert resp is not None
                yield chunk({}, resp.finish_reason or "stop")
                if include_usage:
                    last = {**base, "choices": [], "usage": _usage(resp.usage)}
                    yield b"data: " + dumps(last) + b"\n\n"
                metrics.tokens.labels("input").inc(resp.usage.input_tokens)
                metrics.tokens.labels("output").inc(resp.usage.output_tokens)
                if resp.cost_usd:
                    metrics.cost.inc(resp.cost_usd)
                yield b"data: [DONE]\n\n"
            finally:
                # A client that went away: the producer closes the engine's stream at its
                # next delta, which closes the provider's and records the call cancelled.
                feed.cancel()
                done = feed.stream.response
                await settle(admission, done.usage if done is not None else None)
                metrics.latency.labels("chat", "true").observe(time.perf_counter() - started)

        metrics.requests.labels("chat", "200").inc()
        return _ClosingStream(events(), media_type="text/event-stream",
                              headers={**headers, "cache-control": "no-cache"})

    @app.get("/v1/models")
    async def list_models(request: Request) -> JSONResponse:
        actor = authenticate(request)
        s = svc()
        ids = await run_in_threadpool(s.registry.available_models)
        ids += [f"route/{n}" for n in s.reliability.routes.all()]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": m.split("/", 1)[0]}
                for m in ids if actor.may_use_model(m)]
        metrics.requests.labels("models", "200").inc()
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> JSONResponse:
        actor = authenticate(request)
        raw = await read_json(request)
        try:
            fb = FeedbackBody.model_validate(raw)
        except ValidationError as exc:
            message, where = _validation_message(exc)
            raise ApiError(422, message, code="invalid_value", param=where) from None
        tel = svc().telemetry
        row = await run_in_threadpool(_find_call, tel, fb.call_id)
        tag = actor.budget_tag
        if row is None or (tag and tag not in (row.tags or "").split(",")):
            raise ApiError(404, f"There is no call '{fb.call_id}' made with this key; send the "
                           "x-trellis-call-id header of the answer.", type_="not_found_error",
                           code="call_not_found", param="call_id")
        fid = await run_in_threadpool(tel.set_feedback, row.id, fb.score, fb.comment, fb.user_id)
        metrics.requests.labels("feedback", "200").inc()
        return JSONResponse({"id": fid, "call_id": fb.call_id, "score": fb.score},
                            headers={CALL_ID: fb.call_id})

    @app.get("/v1/prompts/{name}")
    async def get_prompt(request: Request, name: str, label: str | None = None,
                         version: int | None = None) -> JSONResponse:
        from api.prompts import lookup

        actor = authenticate(request)
        if not actor.may_use_prompt(name):
            raise ApiError(403, f"This API key may not use the prompt '{name}'.",
                           type_="permission_error", code="prompt_not_allowed")
        found = await run_in_threadpool(lookup, svc(), name, label, version)
        metrics.requests.labels("prompts", "200").inc()
        return JSONResponse(found)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await run_in_threadpool(_readiness, svc())
        ok = all(c == "ok" for c in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            200 if ok else 503)

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(await run_in_threadpool(metrics.exposition),
                                 media_type=CONTENT_TYPE_LATEST)

    return app


class _EngineFeed:
    """Runs an engine stream in a worker thread and hands its deltas to the event loop
    as ("delta", text), then ("end", None) or ("error", TrellisError).

    One thread per stream instead of one thread hop per delta: at 50 concurrent
    streams the hops, not the work, were the cost.
    """

    def __init__(self, stream: EngineStream, pool: ThreadPoolExecutor) -> None:
        self.stream = stream
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = threading.Event()
        self._loop.run_in_executor(pool, self._produce)

    def _put(self, item: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed (server shutting down)
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _produce(self) -> None:
        it = iter(self.stream)
        try:
            for delta in it:
                if self._stop.is_set():
                    it.close()  # GeneratorExit in the engine: provider closed, row cancelled
                    return
                self._put(("delta", delta))
        except E.TrellisError as err:
            self._put(("error", err))
        except Exception:  # noqa: BLE001 - the engine already logged and recorded it
            log.exception("stream failed for call %s", self.stream.trace_id)
            self._put(("error", InternalError("stream failed")))
        else:
            self._put(("end", None))

    async def get(self) -> tuple[str, Any]:
        return await self._queue.get()

    def get_nowait(self) -> tuple[str, Any] | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def cancel(self) -> None:
        self._stop.set()


class _ClosingStream(StreamingResponse):
    """Closes its body iterator however the response ends (client gone included), so
    the engine's stream is closed now rather than whenever the generator is collected."""

    async def stream_response(self, send: Any) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _find_call(tel: Any, call_id: str) -> Any:
    """The call's row by trace id (or row number). Rows are written in the background
    (this process's writer, or another worker's): a gateway call id not found yet is
    looked for again for up to a second before the answer is 'not found'."""
    deadline = time.monotonic() + 1.0
    while True:
        row = tel.get_by_trace(call_id)
        if row is None and call_id.isdigit():
            row = tel.get_call(int(call_id))
        if row is not None or not _TRACE_ID.fullmatch(call_id) or time.monotonic() > deadline:
            return row
        tel.flush(1.0)
        time.sleep(0.05)


def _usage(usage: Any) -> dict:
    out = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def _readiness(s: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with s.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:  # noqa: BLE001 - reported, not raised
        log.warning("readiness: database unreachable: %s", type(err).__name__)
        checks["database"] = "The database cannot be reached."
    if s.settings.chroma_host:
        import httpx

        url = f"http://{s.settings.chroma_host}:{s.settings.chroma_port}/api/v2/heartbeat"
        try:
            httpx.get(url, timeout=2.0).raise_for_status()
            checks["chroma"] = "ok"
        except httpx.HTTPError:
            checks["chroma"] = "The Chroma server cannot be reached."
    return checks
