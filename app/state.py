"""Widget choices that outlive a page switch.

Streamlit forgets a widget's value at the end of any run that did not draw the
widget, so visiting another page resets every choice on the last one (a
temperature, a filter, a half-typed system prompt). A page keeps a choice by
creating the widget with `key=keep("page.name", default)`: `keep` remembers
the value outside widget state on every run that draws the widget, and puts it
back, before the widget is created, on the first run that draws it again.

Create kept widgets without a `value=`/`index=` argument: the default comes
from `keep`, and a widget given both would warn on the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

_KEPT = "_trellis.kept"
_MISSING = object()


def _store() -> dict[str, Any]:
    return st.session_state.setdefault(_KEPT, {})


def keep(key: str, default: Any = None, *, options: Iterable[Any] | None = None) -> str:
    """Register `key` as a kept choice, seed its default, and return the key.

    With `options`, a remembered value that is no longer among them (a model
    that went away, a deleted policy) falls back to `default`.
    """
    store = _store()
    value = st.session_state[key] if key in st.session_state else store.get(key, _MISSING)
    if options is not None and value is not _MISSING:
        allowed = list(options)
        if isinstance(value, list):
            value = [v for v in value if v in allowed]
        elif value not in allowed:
            value = _MISSING
    if value is _MISSING:
        value = default
    # Always reassign: a key shared by two pages can still hold the other page's
    # widget state, which the new page's widget would not pick up.
    st.session_state[key] = value
    store[key] = value
    return key


def forget(*keys: str) -> None:
    """Drop kept choices (a page's "reset" button)."""
    store = _store()
    for key in keys:
        store.pop(key, None)
        st.session_state.pop(key, None)
