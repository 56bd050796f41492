"""The engine's `render` stage: serve a registry prompt to any caller.

A request naming `prompt_name` (with `prompt_label`, default production, or
`prompt_version`) and `variables` gets the version's messages filled in and
its settings applied. A setting the caller passed explicitly wins; the
stage's span says, per setting, whether the prompt or the caller won. The
log row carries the prompt's name and the version actually served.

Messages: the version's messages come first; the caller's own messages
(a conversation that continues the prompt) follow. A caller's `system`
replaces the prompt's system message.

Size: the filled-in messages (few-shot examples and the caller's own messages
included) plus the answer's max tokens must fit the chosen model's context
window (`core.providers.context`); a prompt that does not fit ends the call
with one sentence naming the version, its size and the model's limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.engine.types import CallContext, CompletionRequest
from core.prompts.registry import DEFAULT_LABEL, PromptRegistry
from core.prompts.templates import PromptError
from core.prompts.types import REQUEST_PARAMS, PromptVersion
from core.providers.base import Message, with_json_instruction
from core.providers.context import ContextWindows


class PromptTooLong(PromptError):
    """The filled-in prompt and its answer do not fit the model's context window."""


def _sent(messages: list[Message], json_schema: dict[str, Any] | None) -> list[Message]:
    """The messages as the provider gets them: with the JSON instruction when a schema is set."""
    if isinstance(json_schema, dict):
        return with_json_instruction(messages, json_schema)
    return messages


def check_fits(
    windows: ContextWindows, where: str, messages: list[Message], model_id: str,
    max_tokens: int | None, json_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Raise PromptTooLong unless `messages` plus `max_tokens` fit `model_id`'s window.

    With `json_schema`, the instruction that carries it (added to the system message
    before sending) is counted too. Returns the figures (for the span): tokens,
    whether counted exactly, window.
    """
    count = windows.count(_sent(messages, json_schema), model_id)
    window = windows.window(model_id)
    answer = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 0
    need = count.tokens + answer
    if need > window.tokens:
        parts = (f" ({count.tokens:,} for the messages and {answer:,} for the answer)"
                 if answer else " for its messages")
        fix = ("Shorten the messages, the examples or the variable values"
               + (", lower Max tokens" if answer else "")
               + ", or pick a model with a larger context.")
        who = where[:1].upper() + where[1:] if where.startswith("the ") else f"Prompt {where}"
        raise PromptTooLong(
            f"{who} needs about {need:,} tokens{parts}, but {model_id} holds "
            f"{window.tokens:,}. {fix}"
        )
    return {"tokens": count.tokens, "exact": count.exact, "window": window.tokens}


@dataclass(frozen=True, slots=True)
class VariantChoice:
    """What a variant selector (an experiment) picks for one request."""

    variant: str
    label: str | None = None
    version: int | None = None
    experiment: str | None = None
    #: The variant's model and parameters; a setting the caller passed still wins.
    model: str | None = None
    params: dict[str, Any] | None = None


#: Seam for experiments: given the request, pick a variant (or None for no experiment).
VariantSelector = Callable[[CompletionRequest], VariantChoice | None]


class RenderStage:
    def __init__(self, registry: PromptRegistry, windows: ContextWindows | None = None) -> None:
        self.registry = registry
        self.variant_selector: VariantSelector | None = None
        #: Context windows of the engine's models (None: no size check).
        self.windows = windows

    def size_note(self, messages: list[Message], model_id: str, max_tokens: int | None,
                  json_schema: dict[str, Any] | None = None) -> str | None:
        """One line for an editor: about how many tokens, of how many the model holds."""
        if self.windows is None:
            return None
        count = self.windows.count(_sent(messages, json_schema), model_id)
        window = self.windows.window(model_id)
        answer = f" + {max_tokens:,} for the answer" if max_tokens else ""
        over = count.tokens + (max_tokens or 0) > window.tokens
        return (f"With the example values this prompt is about {count.tokens:,} tokens{answer}"
                f"; {model_id} holds {window.tokens:,}."
                + (" That is too big: shorten it or pick another model." if over else ""))

    def check_fit(self, where: str, messages: list[Message], model_id: str,
                  max_tokens: int | None,
                  json_schema: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """`check_fits` on this engine's models (the Prompts page's try uses it)."""
        if self.windows is None:
            return None
        return check_fits(self.windows, where, messages, model_id, max_tokens, json_schema)

    def __call__(self, ctx: CallContext) -> dict[str, Any] | None:
        req = ctx.request
        if not req.prompt_name:
            return None
        label: str | None = None
        version_no = req.prompt_version
        changes: dict[str, Any] = {}
        choice: VariantChoice | None = None
        if version_no is None and self.variant_selector is not None:
            choice = self.variant_selector(req)
            if choice is not None:
                label, version_no = choice.label, choice.version
                changes["variant"] = choice.variant
                if choice.experiment:
                    changes["experiment"] = choice.experiment
        if version_no is not None:
            version = self.registry.get(req.prompt_name, version=version_no)
        else:
            label = label or req.prompt_label or DEFAULT_LABEL
            version = self.registry.get(req.prompt_name, label=label)
        rendered = version.render(req.variables)
        if req.system:
            rendered = [m for m in rendered if m.role != "system"]
            rendered.insert(0, Message("system", req.system))
        # _new_context put the caller's system first; it is already accounted for above.
        caller = [m for m in ctx.messages if not (req.system and m.role == "system"
                                                  and m.content == req.system)]
        ctx.messages = rendered + caller
        won = apply_config(version, req, changes)
        if choice is not None:
            for key, value in {**(choice.params or {}), "model": choice.model}.items():
                if value is not None and key in REQUEST_PARAMS and getattr(req, key) is None:
                    changes[key] = value
                    won[key] = "variant"
        if "model" in changes:
            ctx.model_id = changes["model"]
        changes.update(prompt_name=version.prompt, prompt_version=version.version,
                       prompt_label=label)
        ctx.request = dataclasses.replace(req, **changes)
        detail: dict[str, Any] = {"prompt": version.prompt, "version": version.version}
        if isinstance(ctx.model_id, str) and "/" in ctx.model_id:
            size = self.check_fit(version.label, ctx.messages, ctx.model_id,
                                  ctx.request.max_tokens,
                                  ctx.request.options.get("json_schema"))
            if size:
                detail["size"] = size
        if label:
            detail["label"] = label
        if won:
            detail["settings"] = won
        if req.system:
            detail["system"] = "caller"
        return detail


def apply_config(
    version: PromptVersion, req: CompletionRequest, changes: dict[str, Any]
) -> dict[str, str]:
    """Fill `changes` with the version's settings the caller left unset; say who won each."""
    cfg = version.config
    won: dict[str, str] = {}
    for key in REQUEST_PARAMS:
        value = getattr(cfg, key)
        if value is None:
            continue
        if getattr(req, key) is not None:
            won[key] = "caller"
        else:
            changes[key] = list(value) if isinstance(value, list) else value
            won[key] = "prompt"
    options = dict(req.options)
    for key, option, value in (
        ("guard_policy", "guard_policy", cfg.guard_policy),
        ("response_schema", "json_schema", cfg.response_schema),
        ("rag_collection", "rag", _rag(cfg.rag_collection, cfg.rag_top_k)),
    ):
        if value is None:
            continue
        if option in options:
            won[key] = "caller"
        else:
            options[option] = value
            won[key] = "prompt"
    if options != req.options:
        changes["options"] = options
    return won


def request_for(
    version: PromptVersion, variables: dict[str, Any] | None, **fields: Any
) -> CompletionRequest:
    """A request carrying `version` already rendered: how an unsaved draft is tried.

    Saved versions go by name instead (`prompt_name=...`), so the render stage
    resolves them and the log row names the version.
    """
    base = CompletionRequest(messages=version.render(variables), **fields)
    changes: dict[str, Any] = {}
    apply_config(version, base, changes)
    return dataclasses.replace(base, **changes)


def _rag(collection: str | None, top_k: int | None) -> dict[str, Any] | None:
    if not collection:
        return None
    return {"collection": collection, **({"top_k": top_k} if top_k else {})}


def install(engine: Any, registry: PromptRegistry,
            chain: Callable[[str], list[str]] | None = None) -> RenderStage:
    """Add the render stage to `engine`; `chain` resolves `route/<name>` for size checks."""
    stage = RenderStage(registry, ContextWindows(engine.settings, engine.registry, chain))
    # Not optional: a prompt that cannot be rendered must fail the call, not skip the prompt.
    engine.add_hook("render", stage, optional=False)
    return stage
