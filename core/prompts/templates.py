"""Prompt templates: Jinja2 in a sandbox, with variables, conditionals and
loops, and nothing else.

Three layers keep a hostile template harmless:

1. Before compiling, the template's syntax tree is checked against a short
   allow-list: output, `if`, `for`, comparisons, arithmetic, a handful of
   text filters. Function and method calls, `set`, macros, imports,
   `**`, `%` and any name or attribute starting with `_` are refused with a
   sentence saying so. This closes the usual escapes (`__class__` walks,
   `cycler`/`joiner`/`namespace` gadgets, `range(10**9)`, recursion).
2. What is allowed runs in Jinja's `SandboxedEnvironment` with
   `StrictUndefined`, no globals, and `*` intercepted so a repetition
   cannot build a huge string.
3. Every render has a budget: loop iterations, output characters and a
   deadline, checked as the output is produced.

A variable's value is data: it is handed to the template as a value and
never compiled, so `{{ config }}` typed into a value is sent as those
characters.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from core.providers.errors import TrellisError

# Limits. Generous for real prompts, small enough that no template stalls a call.
MAX_TEMPLATE_CHARS = 20_000  # one message's template
MAX_RENDERED_CHARS = 200_000  # all messages of one render together
MAX_VARIABLES = 50
MAX_VALUE_CHARS = 50_000  # all variable values of one render together
MAX_LOOP_ITERATIONS = 10_000  # across every loop of one render
RENDER_DEADLINE_S = 0.5
MAX_NESTING = 40


class PromptError(TrellisError):
    """A prompt could not be found, saved or filled in; `detail` is the sentence."""

    error_class = "prompt"

    @property
    def user_message(self) -> str:
        return self.detail or "The prompt could not be used."


class TemplateRejected(PromptError):
    """The template uses something prompts may not use, or is too big."""


class MissingVariable(PromptError):
    def __init__(self, name: str, where: str = "") -> None:
        self.name = name
        self.where = where
        at = f" by {where}" if where else ""
        super().__init__(
            f"The variable '{name}' used{at} has no value. Fill it in and try again."
        )


class RenderLimit(PromptError):
    """Rendering went past a size, loop or time limit."""


# -- the allow-list ---------------------------------------------------------
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name,
    nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.If, nodes.For, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.CondExpr,
    nodes.Concat, nodes.Filter, nodes.Test, nodes.Tuple, nodes.List, nodes.Keyword,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv,
)
_FILTERS = frozenset({
    "upper", "lower", "title", "capitalize", "trim", "striptags", "join", "length",
    "count", "default", "d", "first", "last", "list", "sort", "unique", "reverse",
    "truncate", "wordcount", "int", "float", "round", "abs", "string", "tojson", "e",
    "escape", "replace", "min", "max", "sum", "items", "dictsort",
})
_TESTS = frozenset({
    "defined", "undefined", "none", "number", "string", "sequence", "mapping", "even",
    "odd", "divisibleby", "eq", "ne", "lt", "gt", "le", "ge", "in", "true", "false",
    "boolean", "integer", "float", "lower", "upper", "equalto", "iterable",
})
_REFUSED_WHAT = {
    nodes.Call: "calls a function or method (use a filter such as |upper instead)",
    nodes.Assign: "sets a variable with {% set %}",
    nodes.AssignBlock: "sets a variable with {% set %}",
    nodes.Macro: "defines a macro",
    nodes.CallBlock: "uses {% call %}",
    nodes.Import: "imports another template",
    nodes.FromImport: "imports another template",
    nodes.Include: "includes another template",
    nodes.Extends: "extends another template",
    nodes.Block: "uses {% block %}",
    nodes.FilterBlock: "uses {% filter %} blocks",
    nodes.With: "uses {% with %}",
    nodes.Pow: "uses the ** operator",
    nodes.Mod: "uses the % operator",
    nodes.Dict: "builds a dictionary",
}
_ITER_FILTER = "trellis_bounded_iter"


def _refuse(reason: str) -> TemplateRejected:
    return TemplateRejected(
        f"This template {reason}; prompts may use variables, if-conditions and for-loops only."
    )


def _check(node: nodes.Node, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise TemplateRejected(
            "This template is nested too deeply; simplify its conditions and loops."
        )
    if not isinstance(node, _ALLOWED_NODES):
        what = _REFUSED_WHAT.get(type(node))
        raise _refuse(what or f"uses '{type(node).__name__}', which is not allowed")
    if isinstance(node, nodes.Name) and (node.name.startswith("_") or node.name == "self"):
        raise _refuse(f"uses the name '{node.name}', which is reserved")
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise _refuse(f"reads the hidden attribute '{node.attr}'")
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
        and node.arg.value.startswith("_")
    ):
        raise _refuse(f"reads the hidden attribute '{node.arg.value}'")
    if isinstance(node, nodes.Filter) and node.name not in _FILTERS:
        raise _refuse(f"uses the filter '{node.name}', which is not allowed")
    if isinstance(node, nodes.Test) and node.name not in _TESTS:
        raise _refuse(f"uses the test '{node.name}', which is not allowed")
    if isinstance(node, nodes.For) and node.recursive:
        raise _refuse("uses a recursive loop")
    for child in node.iter_child_nodes():
        _check(child, depth + 1)


def _bound_loops(tree: nodes.Template) -> None:
    """Wrap every loop's iterable so each iteration counts against the render's budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _ITER_FILTER, [], [], None, None, lineno=loop.lineno)


# -- the per-render budget --------------------------------------------------
@dataclass(slots=True)
class _Budget:
    deadline: float
    iterations: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimit(
                "Filling in the template took too long; simplify its loops and try again."
            )


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "trellis_render_budget", default=None
)


def _bounded_iter(value: Any) -> Iterator[Any]:
    budget = _budget.get()
    for item in value:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_LOOP_ITERATIONS:
                raise RenderLimit(
                    f"The template's loops ran more than {MAX_LOOP_ITERATIONS:,} times; "
                    "loop over a shorter list."
                )
            if budget.iterations % 256 == 0:
                budget.tick()
        yield item


def _too_big() -> RenderLimit:
    return RenderLimit(
        f"The filled-in prompt would be longer than {MAX_RENDERED_CHARS:,} characters; "
        "shorten the template or the variable values."
    )


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset({"*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            size, times = (
                (_sized(left), right) if isinstance(right, int) else (_sized(right), left)
            )
            if isinstance(times, int) and size * max(times, 0) > MAX_RENDERED_CHARS:
                raise _too_big()
        return super().call_binop(context, operator, left, right)


def _join(env_filter: Any) -> Any:
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value) if not isinstance(value, str) else list(value)
        if len(items) * len(str(d)) > MAX_RENDERED_CHARS:
            raise _too_big()
        return env_filter(eval_ctx, items, d, attribute)

    join.jinja_pass_arg = env_filter.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _replace(env_filter: Any) -> Any:
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        text, old, new = str(s), str(old), str(new)
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * max(len(new) - len(old), 0) > MAX_RENDERED_CHARS:
            raise _too_big()
        return env_filter(eval_ctx, s, old, new, count)

    replace.jinja_pass_arg = env_filter.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


class _Undefined(StrictUndefined):
    """StrictUndefined that names the missing variable in our own error."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        name = self._undefined_name
        if name is None or self._undefined_obj is not _missing_marker():
            # An attribute or key that is not there on a value the caller gave.
            raise PromptError(
                "The template reads a field that the variable's value does not have"
                + (f" ('{name}')" if name else "")
                + "; check the variable's value."
            )
        raise MissingVariable(str(name))

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = (  # type: ignore[assignment]
        _fail_with_undefined_error
    )
    __contains__ = __getitem__ = __add__ = __radd__ = __lt__ = __gt__ = (  # type: ignore[assignment]
        _fail_with_undefined_error
    )


def _missing_marker() -> Any:
    from jinja2.utils import missing

    return missing


def _make_env() -> _Env:
    env = _Env(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    env.filters = {name: f for name, f in env.filters.items() if name in _FILTERS}
    env.filters["join"] = _join(env.filters["join"])
    env.filters["replace"] = _replace(env.filters["replace"])
    env.filters[_ITER_FILTER] = _bounded_iter
    env.tests = {name: t for name, t in env.tests.items() if name in _TESTS}
    return env


_ENV = _make_env()


def _parse(source: str) -> nodes.Template:
    if not isinstance(source, str):
        raise TemplateRejected("A prompt message must be text.")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRejected(
            f"This message is {len(source):,} characters; the limit is "
            f"{MAX_TEMPLATE_CHARS:,}. Shorten it."
        )
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as err:
        raise TemplateRejected(
            f"The template has a syntax mistake on line {err.lineno}: {_syntax_hint(err)}. "
            "Check the {{ }} and {% %} pairs."
        ) from None
    except RecursionError:
        raise TemplateRejected(
            "This template is nested too deeply; simplify its conditions and loops."
        ) from None


def _syntax_hint(err: TemplateSyntaxError) -> str:
    msg = (err.message or "").split("\n")[0]
    # Jinja's own wording can name internals; keep it short and plain.
    if "unknown tag" in msg:
        return "it uses a tag prompts do not support"
    if "unexpected end of template" in msg:
        return "a block is not closed (missing {% endif %} or {% endfor %}?)"
    if "expected token" in msg or "unexpected" in msg:
        return "an expression is incomplete or has an extra character"
    return "the template cannot be read"


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    source: str
    variables: tuple[str, ...]
    _template: Any

    def generate(self, values: dict[str, Any]) -> Iterable[str]:
        return self._template.generate(values)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> CompiledTemplate:
    """Check and compile one message template (cached by its text)."""
    tree = _parse(source)
    try:
        _check(tree)
    except RecursionError:
        raise TemplateRejected(
            "This template is nested too deeply; simplify its conditions and loops."
        ) from None
    names = tuple(sorted(meta.find_undeclared_variables(tree)))
    if len(names) > MAX_VARIABLES:
        raise TemplateRejected(
            f"This template uses {len(names)} variables; the limit is {MAX_VARIABLES}."
        )
    _bound_loops(tree)
    try:
        template = _ENV.from_string(tree)
    except RecursionError:
        raise TemplateRejected(
            "This template is nested too deeply; simplify its conditions and loops."
        ) from None
    return CompiledTemplate(source, names, template)


def find_variables(*sources: str) -> list[str]:
    """The variable names the templates use, in first-use order across them."""
    seen: dict[str, None] = {}
    for source in sources:
        tree = _parse(source)
        _check(tree)
        # Order of first appearance reads better in a form than alphabetical order.
        found = meta.find_undeclared_variables(tree)
        for node in tree.find_all(nodes.Name):
            if node.name in found:
                seen.setdefault(node.name, None)
    return list(seen)


def check_values(values: dict[str, Any] | None) -> dict[str, Any]:
    values = dict(values or {})
    if len(values) > MAX_VARIABLES:
        raise RenderLimit(f"{len(values)} variables were given; the limit is {MAX_VARIABLES}.")
    total = 0
    for name, value in values.items():
        if not isinstance(name, str):
            raise PromptError("Variable names must be text.")
        total += _value_size(value)
        if total > MAX_VALUE_CHARS:
            raise RenderLimit(
                f"The variable values add up to more than {MAX_VALUE_CHARS:,} characters; "
                "shorten them."
            )
    return values


def _value_size(value: Any, depth: int = 0) -> int:
    if depth > 10:
        raise PromptError("A variable's value is nested too deeply; flatten it.")
    if value is None or isinstance(value, bool | int | float):
        return 8
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_value_size(v, depth + 1) for v in value) + len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _value_size(v, depth + 1) for k, v in value.items())
    raise PromptError(
        "A variable's value must be text, a number, true/false, a list or a mapping."
    )


def render_text(
    templates: list[CompiledTemplate], values: dict[str, Any], *, where: str = ""
) -> list[str]:
    """Fill in each template with the same values, within one shared budget."""
    values = check_values(values)
    token = _budget.set(_Budget(deadline=time.monotonic() + RENDER_DEADLINE_S))
    total = 0
    out: list[str] = []
    try:
        for tpl in templates:
            parts: list[str] = []
            for piece in tpl.generate(values):
                total += len(piece)
                if total > MAX_RENDERED_CHARS:
                    raise _too_big()
                parts.append(piece)
            out.append("".join(parts))
            _budget.get().tick()  # type: ignore[union-attr]
        return out
    except MissingVariable as err:
        raise MissingVariable(err.name, where) from None
    except PromptError as err:
        if where and isinstance(err, RenderLimit | TemplateRejected):
            raise type(err)(f"{err.detail.rstrip('.')} ({where}).") from None
        raise
    except SecurityError:
        raise PromptError(
            f"The template{' of ' + where if where else ''} tried to reach something "
            "prompts may not use; remove that part."
        ) from None
    except UndefinedError:
        raise PromptError("The template reads a value that is not there.") from None
    except RecursionError:
        raise RenderLimit("The template is nested too deeply to fill in.") from None
    except (TypeError, ValueError, ArithmeticError, OverflowError, MemoryError):
        raise PromptError(
            f"The template{' of ' + where if where else ''} could not be filled in: a "
            "variable's value does not fit how the template uses it (text where a number "
            "or list is expected, or a division by zero)."
        ) from None
    finally:
        _budget.reset(token)
