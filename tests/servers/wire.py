"""A loopback HTTP server that speaks the OpenAI and Anthropic wire formats.

Tests point the real ``openai`` and ``anthropic`` SDKs at this server so that
the whole client stack (SDK parsing, HTTP transport, retries, timeouts, SSE
decoding) runs for real, while the server decides per request whether to answer
normally or misbehave. Only the standard library is used so the server starts in
milliseconds and has no dependency that could drift with the code under test.

Usage::

    with WireServer(reply="hi there") as srv:
        srv.enqueue("429", Fault("500"), "ok")
        client = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="x")
        ...
        assert srv.counts["429"] == 1

Directives (``Fault.kind``): ``ok``, ``429``, ``500``, ``503``, ``401``,
``400``, ``context``, ``hang``, ``slow``, ``cut``; any other status code
between 400 and 599 given as a string also works and gets a generic error body.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Fault", "Recorded", "WireServer"]

MODEL_ID = "wire-model"

# Per-kind default delays. ``Fault.delay`` defaults to 0.0 in its signature, so
# 0.0 on a delaying kind means "not given" and is replaced by these; a caller
# who wants no delay should use "ok" instead.
_DEFAULT_DELAYS = {"hang": 30.0, "slow": 0.2}

_NAMED_KINDS = frozenset({"ok", "hang", "slow", "cut", "context"})

# Errors a client can provoke simply by going away (timeouts, cut tests). They
# are expected in a fault-injecting server and must not surface as thread
# exceptions, which pytest's ``filterwarnings = error`` would turn into failures.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

# Anthropic error types by status, as documented for the Messages API. 503 is
# not an Anthropic status (they use 529) but "overloaded" is what it means.
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# (type, code, message) for OpenAI, mirroring bodies the real API returns.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (injected by the wire server)."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided (injected by the wire server).",
    ),
    404: ("invalid_request_error", None, "Not found."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests (injected by the wire server).",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: (
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
}

_CONTEXT_MESSAGE_OPENAI = (
    "This model's maximum context length is 8192 tokens. "
    "However, your messages resulted in 9000 tokens."
)
_CONTEXT_MESSAGE_ANTHROPIC = "prompt is too long: 9000 tokens > 8192 maximum"


@dataclass
class Fault:
    """One per-request directive.

    ``retry_after`` sets the ``retry-after`` header (seconds) on error
    responses; 429 sends "1" when it is not set. ``delay`` is the hang time for
    "hang" (default 30 s) and the pre-first-byte / inter-chunk pause for "slow"
    (default 0.2 s). ``cut_after`` is how many content chunks a "cut" stream
    delivers before the connection is dropped.
    """

    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    cut_after: int = 2

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in _NAMED_KINDS and _status_of(self.kind) is None:
            raise ValueError(f"unknown wire-server directive: {self.kind!r}")
        if self.delay == 0.0 and self.kind in _DEFAULT_DELAYS:
            self.delay = _DEFAULT_DELAYS[self.kind]


@dataclass
class Recorded:
    """A request as the server saw it.

    ``path`` has the query string removed. ``headers`` keys are lower-cased.
    ``directive`` is the fault kind applied ("ok" for non-completion routes that
    were served, "404" for unknown routes). ``time`` is ``time.monotonic()`` at
    receipt, so differences measure client back-off precisely.
    """

    path: str
    headers: dict[str, str]
    body: dict
    directive: str
    time: float


def _status_of(kind: str) -> int | None:
    """The HTTP status a directive maps to, or None for non-error kinds."""
    if kind == "context":
        return 400
    if kind.isdigit() and 400 <= int(kind) <= 599:
        return int(kind)
    return None


def _as_fault(directive: str | Fault) -> Fault:
    return directive if isinstance(directive, Fault) else Fault(directive)


def _text_of(content: Any) -> str:
    """All human-readable text inside a message ``content`` in either format."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part) for part in content)
    if isinstance(content, dict):
        # Text parts carry "text"; Anthropic tool_result blocks nest "content".
        return " ".join(_text_of(content.get(key)) for key in ("text", "content"))
    return ""


def _prompt_tokens(body: dict) -> int:
    words = _text_of(body.get("system")).split()
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            words += _text_of(message.get("content")).split()
    return len(words)


def _pieces(text: str) -> list[str]:
    """Split into one piece per word, keeping whitespace so ''.join == text.

    Whitespace before the first word is glued to it, so that a reply like
    "  hi" still streams back byte-identical.
    """
    pieces = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    if not pieces:
        return [text] if text else []
    pieces[0] = lead + pieces[0]
    return pieces


def _fmt_seconds(value: float) -> str:
    # SDKs parse retry-after with float(), but real servers send integers, and
    # tests compare the header text, so 2 must come out as "2", not "2.0".
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Answer:
    """The text of one normal answer, after max-token truncation."""

    def __init__(self, reply: str, body: dict, limit_keys: tuple[str, ...]) -> None:
        pieces = _pieces(reply)
        limit = next((body[k] for k in limit_keys if isinstance(body.get(k), int)), None)
        self.truncated = limit is not None and 0 <= limit < len(pieces)
        if self.truncated:
            pieces = pieces[:limit]
            if pieces:
                pieces[-1] = pieces[-1].rstrip()
        self.pieces = pieces
        self.text = "".join(pieces)
        self.prompt_tokens = _prompt_tokens(body)
        self.completion_tokens = len(self.text.split())


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its WireServer and keeps disconnects quiet."""

    daemon_threads = True
    wire: WireServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback for every client that hung up early,
        # which fault tests do on purpose; anything else is still reported.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so streams can use chunked encoding: with read-until-close
    # framing a cut stream would be indistinguishable from a finished one, and
    # the client would not notice the cut. Every response also sends
    # "Connection: close", so no keep-alive state leaks between requests.
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # Keep test output clean.

    # -- plumbing ----------------------------------------------------------

    @property
    def wire(self) -> WireServer:
        return self.server.wire

    def _read_body(self) -> dict:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}
        return parsed if isinstance(parsed, dict) else {"_json": parsed}

    def _is_anthropic(self, route: str) -> bool:
        return route == "/v1/messages" or "anthropic-version" in self.headers

    def _send_json(
        self, status: int, payload: dict, extra_headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in self._request_id_headers().items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()

    def _chunk(self, data: str) -> None:
        raw = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        """Close without completing the HTTP message.

        A FIN (shutdown) rather than an RST: with an RST the client kernel may
        discard bytes it has not read yet, so the number of chunks that arrive
        before the failure would be flaky. A FIN delivers everything sent, then
        the HTTP parser fails on the missing terminator.
        """
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _pause(self, seconds: float) -> bool:
        """Sleep, waking early on stop(); True if the server is stopping."""
        return self.wire._stopping.wait(seconds) if seconds > 0 else self.wire._stopping.is_set()

    # -- routing -----------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        route = urlsplit(self.path).path.rstrip("/")
        self._read_body()
        try:
            if route == "/v1/models":
                self.wire._record(route, self.headers, {}, "ok")
                self._send_json(200, self._models_payload())
            else:
                self._not_found(route, {})
        except _DISCONNECTS:
            self.close_connection = True

    def do_POST(self) -> None:  # noqa: N802
        route = urlsplit(self.path).path.rstrip("/")
        body = self._read_body()
        try:
            if route in ("/v1/chat/completions", "/v1/messages"):
                self._completion(route, body)
            elif route == "/v1/embeddings":
                self._embeddings(route, body)
            else:
                self._not_found(route, body)
        except _DISCONNECTS:
            self.close_connection = True

    def _not_found(self, route: str, body: dict) -> None:
        self.wire._record(route, self.headers, body, "404")
        anthropic = self._is_anthropic(route)
        message = f"Unknown route: {self.command} {route}"
        self._send_json(404, self._error_payload(anthropic, 404, message=message))

    def _models_payload(self) -> dict:
        if "anthropic-version" in self.headers:
            model = {
                "type": "model",
                "id": MODEL_ID,
                "display_name": "Wire Model",
                "created_at": "2025-01-01T00:00:00Z",
            }
            return {"data": [model], "has_more": False, "first_id": MODEL_ID, "last_id": MODEL_ID}
        model = {"id": MODEL_ID, "object": "model", "created": 1735689600, "owned_by": "wire"}
        return {"object": "list", "data": [model]}

    # -- embeddings --------------------------------------------------------

    def _embeddings(self, route: str, body: dict) -> None:
        """OpenAI's embeddings wire format. Vectors are hashed bags of words: texts
        sharing words point the same way, so retrieval over them is meaningful."""
        self.wire._record(route, self.headers, body, "ok")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = [
            {"object": "embedding", "index": i, "embedding": _bag_of_words(t)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        self._send_json(200, {
            "object": "list", "data": data, "model": body.get("model", MODEL_ID),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    # -- completions -------------------------------------------------------

    def _completion(self, route: str, body: dict) -> None:
        fault = self.wire._next_fault()
        self.wire._record(route, self.headers, body, fault.kind)
        anthropic = route == "/v1/messages"

        status = _status_of(fault.kind)
        if status is not None:
            self._send_error(anthropic, status, fault)
            return

        if fault.kind == "hang" and self._pause(fault.delay):
            # Stopping: give up on this client so stop() returns promptly.
            self._drop()
            return

        try:
            reply = self.wire._reply_for(body)
        except Exception as exc:
            # A broken reply callable is a test bug; a 500 whose message names
            # it is far easier to diagnose than a silently dropped connection.
            message = f"wire server reply callable raised {exc!r}"
            self._send_json(500, self._error_payload(anthropic, 500, message=message))
            return

        answer = _Answer(
            reply,
            body,
            ("max_tokens",) if anthropic else ("max_completion_tokens", "max_tokens"),
        )
        pace = fault.delay if fault.kind == "slow" else 0.0
        cut_after = fault.cut_after if fault.kind == "cut" else None
        if self._pause(pace):
            self._drop()
            return

        model = str(body.get("model") or MODEL_ID)
        if body.get("stream"):
            events = (
                self._anthropic_events(answer, model)
                if anthropic
                else self._openai_events(answer, model, body)
            )
            self._stream(events, pace, cut_after)
        else:
            payload = (
                self._anthropic_message(answer, model)
                if anthropic
                else self._openai_completion(answer, model)
            )
            if cut_after is not None:
                self._cut_json(payload)
            else:
                self._send_json(200, payload, self._request_id_headers())

    @staticmethod
    def _request_id_headers() -> dict[str, str]:
        # Both SDKs surface these on errors (OpenAI reads x-request-id,
        # Anthropic request-id); realistic values make logs look like prod.
        rid = f"req_wire_{uuid.uuid4().hex[:16]}"
        return {"x-request-id": rid, "request-id": rid}

    def _send_error(self, anthropic: bool, status: int, fault: Fault) -> None:
        headers = self._request_id_headers()
        retry_after = fault.retry_after
        if retry_after is None and status == 429:
            retry_after = 1
        if retry_after is not None:
            headers["retry-after"] = _fmt_seconds(retry_after)
        payload = self._error_payload(anthropic, status, context=fault.kind == "context")
        self._send_json(status, payload, headers)

    @staticmethod
    def _error_payload(
        anthropic: bool, status: int, *, context: bool = False, message: str | None = None
    ) -> dict:
        if anthropic:
            fallback = "api_error" if status >= 500 else "invalid_request_error"
            etype = _ANTHROPIC_ERROR_TYPES.get(status, fallback)
            if context:
                message = _CONTEXT_MESSAGE_ANTHROPIC
            elif message is None:
                message = f"Injected {status} {etype} (wire server)."
            return {
                "type": "error",
                "error": {"type": etype, "message": message},
                "request_id": f"req_wire_{uuid.uuid4().hex[:16]}",
            }
        default = (
            "server_error" if status >= 500 else "invalid_request_error",
            None,
            f"Injected {status} error (wire server).",
        )
        etype, code, default_message = _OPENAI_ERRORS.get(status, default)
        if context:
            code, default_message = "context_length_exceeded", _CONTEXT_MESSAGE_OPENAI
            param: str | None = "messages"
        else:
            param = None
        return {
            "error": {
                "message": message or default_message,
                "type": etype,
                "param": param,
                "code": code,
            }
        }

    def _cut_json(self, payload: dict) -> None:
        # Promise the whole body, deliver half: the client's HTTP layer fails
        # while reading the body, which the SDKs report as a connection error.
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self._drop()

    def _stream(
        self, events: Iterator[tuple[str, str]], pace: float, cut_after: int | None
    ) -> None:
        """Send SSE frames as HTTP chunks.

        Each event is (frame, part) with part "head", "content" or "tail". A cut
        happens before the (cut_after+1)-th content frame, or before the first
        tail frame when the answer has fewer words, so a cut stream never gets
        its terminating events whatever the reply length. "slow" pauses before
        every content frame but the first (the first byte was already delayed).
        """
        self._start_stream()
        sent_content = 0
        for frame, part in events:
            if (
                cut_after is not None
                and part != "head"
                and (part == "tail" or sent_content >= cut_after)
            ):
                self._drop()
                return
            if part == "content":
                if sent_content and self._pause(pace):
                    self._drop()
                    return
                sent_content += 1
            self._chunk(frame)
        self._end_stream()

    # -- OpenAI ------------------------------------------------------------

    @staticmethod
    def _openai_usage(answer: _Answer) -> dict:
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def _openai_completion(self, answer: _Answer, model: str) -> dict:
        return {
            "id": f"chatcmpl-wire{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_wire",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if answer.truncated else "stop",
                }
            ],
            "usage": self._openai_usage(answer),
        }

    def _openai_events(self, answer: _Answer, model: str, body: dict) -> Iterator[tuple[str, str]]:
        cid = f"chatcmpl-wire{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

        def chunk(delta: dict, finish: str | None) -> str:
            data: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_wire",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                # The real API puts usage: null on every chunk when asked for usage.
                data["usage"] = None
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": "", "refusal": None}, None), "head"
        for piece in answer.pieces:
            yield chunk({"content": piece}, None), "content"
        yield chunk({}, "length" if answer.truncated else "stop"), "tail"
        if include_usage:
            final = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_wire",
                "choices": [],
                "usage": self._openai_usage(answer),
            }
            yield f"data: {json.dumps(final)}\n\n", "tail"
        yield "data: [DONE]\n\n", "tail"

    # -- Anthropic ---------------------------------------------------------

    def _anthropic_message(self, answer: _Answer, model: str) -> dict:
        return {
            "id": f"msg_wire{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": answer.text}],
            "stop_reason": "max_tokens" if answer.truncated else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": answer.prompt_tokens,
                "output_tokens": answer.completion_tokens,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }

    def _anthropic_events(self, answer: _Answer, model: str) -> Iterator[tuple[str, str]]:
        def event(name: str, data: dict) -> str:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        start = self._anthropic_message(answer, model)
        start["content"] = []
        start["stop_reason"] = None
        # The real API reports output_tokens 1 at message_start and the true
        # total in message_delta; the SDK's accumulator overwrites, not adds.
        start["usage"]["output_tokens"] = 1
        yield event("message_start", {"type": "message_start", "message": start}), "head"
        yield (
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            "head",
        )
        yield event("ping", {"type": "ping"}), "head"
        for piece in answer.pieces:
            yield (
                event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                ),
                "content",
            )
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0}), "tail"
        yield (
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": "max_tokens" if answer.truncated else "end_turn",
                        "stop_sequence": None,
                    },
                    "usage": {"output_tokens": answer.completion_tokens},
                },
            ),
            "tail",
        )
        yield event("message_stop", {"type": "message_stop"}), "tail"


class WireServer:
    """Loopback OpenAI + Anthropic server with per-request fault injection.

    ``reply`` is the answer text, or a callable that receives the parsed
    request body and returns it. Directives are consumed FIFO from
    :meth:`enqueue`; when the queue is empty ``default`` applies. With
    ``fault_rate`` > 0, a request that would be "ok" instead gets a random
    choice from ``fault_choices``, drawn from ``random.Random(seed)`` so that a
    given seed and request order always produce the same fault sequence.
    """

    reply: str | Callable[[dict], str]
    seed: int
    default: str | Fault
    fault_rate: float
    fault_choices: tuple[str, ...]
    requests: list[Recorded]
    counts: collections.Counter
    base_url: str

    def __init__(
        self,
        reply: str | Callable[[dict], str] = "Hello from the wire server.",
        *,
        seed: int = 0,
    ) -> None:
        self.reply = reply
        self.seed = seed
        self.default = "ok"
        self.fault_rate = 0.0
        self.fault_choices = ("429", "500", "503")
        self.requests = []
        self.counts = collections.Counter()
        self._queue: collections.deque[str | Fault] = collections.deque()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> WireServer:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.wire = self
        self._httpd = httpd
        port = httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}"
        # A short poll interval keeps stop() fast; shutdown() waits for a poll.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"wire-server-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes any "hang"/"slow" handlers so nothing lingers."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control -----------------------------------------------------------

    def enqueue(self, *faults: str | Fault) -> None:
        """Queue directives; each completion request consumes one, in order."""
        parsed = [f if isinstance(f, Fault) else Fault(f) for f in faults]  # validate now
        with self._lock:
            self._queue.extend(parsed)

    def reset(self) -> None:
        """Forget requests, queue and counts; back to healthy and re-seeded."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.counts.clear()
            self.default = "ok"
            self.fault_rate = 0.0
            self._rng = random.Random(self.seed)

    @property
    def queued(self) -> int:
        """How many enqueued directives have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    def completion_requests(self) -> list[Recorded]:
        """Recorded requests to the two completion routes only."""
        with self._lock:
            return [r for r in self.requests if r.path in ("/v1/chat/completions", "/v1/messages")]

    # -- used by the handler -------------------------------------------------

    def _next_fault(self) -> Fault:
        with self._lock:
            directive = self._queue.popleft() if self._queue else self.default
            fault = _as_fault(directive)
            if fault.kind == "ok" and self.fault_rate > 0 and self.fault_choices:
                # Draw twice per request regardless of outcome so the choice
                # sequence for a seed does not depend on fault_rate.
                roll = self._rng.random()
                choice = self._rng.choice(self.fault_choices)
                if roll < self.fault_rate:
                    fault = _as_fault(choice)
            self.counts[fault.kind] += 1
            return fault

    def _record(self, path: str, headers: Any, body: dict, directive: str) -> None:
        recorded = Recorded(
            path=path,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            directive=directive,
            time=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)

    def _reply_for(self, body: dict) -> str:
        reply = self.reply
        return str(reply(body)) if callable(reply) else reply


def _bag_of_words(text: str, dims: int = 256) -> list[float]:
    vec = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if len(word) > 2:
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vec
