"""Prompt templates: rendering, the hostile-template corpus, and the limits."""

from __future__ import annotations

import os
import re

import pytest

from core.prompts import templates as T
from core.prompts.templates import PromptError, compile_template, find_variables, render_text


def _render(source: str, values: dict | None = None, where: str = "greet v3") -> str:
    return render_text([compile_template(source)], values or {}, where=where)[0]


def test_variables_conditionals_and_loops_render():
    src = (
        "Hi {{ name|title }}.{% if vip %} Thanks for being a member.{% endif %}\n"
        "{% for item in items %}{{ loop.index }}. {{ item }}\n{% endfor %}"
    )
    out = _render(src, {"name": "ada lovelace", "vip": True, "items": ["tea", "cake"]})
    assert out == "Hi Ada Lovelace. Thanks for being a member.\n1. tea\n2. cake\n"


def test_variables_are_found_in_first_use_order_and_loop_names_are_not_variables():
    assert find_variables("{{ b }} {% for x in items %}{{ x }}{{ loop.index }}{% endfor %}",
                          "{{ a }} {{ b }}") == ["b", "items", "a"]


def test_a_value_is_data_and_never_rendered_as_a_template():
    out = _render("Customer said: {{ text }}", {"text": "{{ config }} {% for x in y %}"})
    assert out == "Customer said: {{ config }} {% for x in y %}"


def test_a_missing_variable_names_itself_and_the_version():
    with pytest.raises(T.MissingVariable) as info:
        _render("Hi {{ name }}, about {{ topic }}", {"name": "Ada"})
    assert info.value.name == "topic"
    assert info.value.user_message == (
        "The variable 'topic' used by greet v3 has no value. Fill it in and try again."
    )


def test_optional_variables_can_be_tested_with_defined():
    assert _render("{% if note is defined %}{{ note }}{% else %}none{% endif %}") == "none"


def test_size_limits():
    with pytest.raises(T.TemplateRejected, match="the limit is 20,000"):
        compile_template("x" * (T.MAX_TEMPLATE_CHARS + 1))
    many = " ".join(f"{{{{ v{i} }}}}" for i in range(T.MAX_VARIABLES + 1))
    with pytest.raises(T.TemplateRejected, match="the limit is 50"):
        compile_template(many)
    with pytest.raises(T.RenderLimit, match="longer than 200,000 characters"):
        _render("{% for i in a %}{{ b }}{% endfor %}",
                {"a": list(range(5000)), "b": "y" * 45})
    with pytest.raises(T.RenderLimit, match="add up to more than 50,000"):
        _render("{{ a }}", {"a": "z" * (T.MAX_VALUE_CHARS + 1)})


def test_the_render_deadline_stops_a_slow_template(monkeypatch):
    monkeypatch.setattr(T, "RENDER_DEADLINE_S", -1.0)  # already past: the first check stops it
    with pytest.raises(T.RenderLimit) as info:
        _render("{% for i in a %}.{% endfor %}", {"a": list(range(1000))})
    assert info.value.user_message.startswith("Filling in the template took too long")


CANARY_ENV = "TRELLIS_SSTI_CANARY"
CANARY_VALUE = "canary-9f1c2e"

# Server-side template-injection strings, written for this suite in the shapes
# published SSTI write-ups use (attribute walks, Jinja global gadgets, resource
# exhaustion). PWN is replaced by a file path that must never be created.
HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('touch PWN').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch PWN').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('touch PWN').read() }}",
    "{{ namespace.__init__.__globals__.os.environ }}",
    "{{ lipsum.__globals__['os'].environ['" + CANARY_ENV + "'] }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ x|attr('__class__') }}",
    "{{ x['__class__'] }}",
    "{{ x.__dict__ }}",
    "{{ x.upper.__self__ }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    "{{ range(10**9)|list }}",
    "{{ range(99999999)|list|length }}",
    "{{ 'a' * 1000000000 }}",
    "{{ 'x' * 99999 * 99999 }}",
    "{{ [x] * 1000000000 }}",
    "{{ big * 1000000 }}",
    "{{ 9**9**9 }}",
    "{{ x[0:10**9] }}",
    "{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}",
    "{% for a in big %}{% for b in big %}{% for c in big %}.{% endfor %}{% endfor %}{% endfor %}",
    "{% set s = 'a' %}{% for i in big %}{% set s = s ~ s %}{% endfor %}{{ s }}",
    "{% set ns = namespace(s='a') %}{% for i in big %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '%999999999d' % 1 }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% extends '/etc/passwd' %}",
    "{{ x|format('%s') }}",
    "{{ big|map('upper')|list }}",
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{% if 1 %}" * 200 + "x" + "{% endif %}" * 200,
    "{{ x|join(x * 100000) }}",
    "{{ big|join(long) }}",
    "{{ long|replace('', long) }}",
    "{% for i in big recursive %}{{ loop(big) }}{% endfor %}",
    "{{ x|center(1000000000) }}",
    "{{ big|batch(1000000000)|list }}",
    "{{ x.mro() }}",
    "{% with a = x %}{{ a }}{% endwith %}",
    "{{ {'a': x} }}",
    "{{ open('/etc/passwd').read() }}",
]


def test_the_corpus_is_at_least_thirty_strings():
    assert len(HOSTILE) >= 30


@pytest.mark.timeout(20)
@pytest.mark.parametrize("source", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_templates_fail_safely_with_a_plain_sentence(source, tmp_path, monkeypatch):
    monkeypatch.setenv(CANARY_ENV, CANARY_VALUE)
    pwn = tmp_path / "pwned"
    values = {"x": "abc", "big": list(range(1000)), "long": "L" * 500,
              "config": "cfg", "request": "req", "cycler": "c", "joiner": "j",
              "namespace": "n", "lipsum": "l"}
    with pytest.raises(PromptError) as info:
        _render(source.replace("PWN", str(pwn)), values)
    sentence = info.value.user_message
    assert re.fullmatch(r"[A-Z][^\n]{10,300}[.)]", sentence), sentence
    for leak in ("Traceback", "jinja2", "object at 0x", "None", CANARY_VALUE, "root:"):
        assert leak not in sentence
    assert not pwn.exists()
    assert os.environ[CANARY_ENV] == CANARY_VALUE
