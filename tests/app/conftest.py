from __future__ import annotations

import pytest
import streamlit as st

from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    """Each AppTest builds its services from this test's environment."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def app_path():
    return str(ROOT / "app" / "main.py")
