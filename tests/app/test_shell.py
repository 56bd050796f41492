"""The navigation shell around the pages (app/main.py)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

PAGES = ["../pages/experiments.py", "../pages/documents.py",
         "../pages/monitoring_latency.py", "../pages/monitoring_cost.py",
         "../pages/monitoring_errors.py"]


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_page_still_shows_providers_and_spend_in_the_sidebar(app_path, page):
    """A page that ended at its empty state with st.stop() also stopped the shell, so the
    sidebar lost which providers work and today's spend."""
    at = AppTest.from_file(app_path, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert any("Local model" in m.value for m in at.sidebar.markdown)
    assert any(m.label == "Spend today (UTC)" for m in at.sidebar.metric)


def test_empty_experiments_page_leads_to_prompts(app_path):
    at = AppTest.from_file(app_path, default_timeout=120).run()
    at.switch_page("../pages/experiments.py").run()
    assert any("create a prompt first" in i.value for i in at.info)
    at.button(key="experiments.to_prompts").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Prompts"
