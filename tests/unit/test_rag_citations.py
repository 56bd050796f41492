from core.rag.citations import cited, mark


def test_cited_reads_single_grouped_and_listed_markers_in_order():
    text = "Leave is 27 days [2]. Carry over five [1][3], expires in March [3, 1]."
    assert cited(text, 3) == [2, 1, 3]


def test_markers_for_sources_that_are_not_listed_do_not_count():
    assert cited("See [4] and [0] and [2].", 3) == [2]
    assert cited("No markers here.", 3) == []
    assert cited("", 0) == []


def test_mark_rewrites_only_markers_that_match_a_source():
    out = mark("A [1]. B [1, 2]. C [9].", 2, lambda n: f"<{n}>")
    assert out == "A <1>. B <1><2>. C [9]."


def test_attribute_marks_sentences_that_repeat_a_source() -> None:
    from core.rag.citations import attribute

    sources = [
        "Employees receive 27 days of paid annual leave each calendar year.",
        "Expense reports are due within 30 days of travel, with receipts attached.",
    ]
    answer = ("You get 27 days of paid annual leave each year. Submit expense reports "
              "within 30 days of travel.\nAsk your manager if unsure.")
    got = attribute(answer, sources)
    assert got == ("You get 27 days of paid annual leave each year [1]. Submit expense reports "
                   "within 30 days of travel [2].\nAsk your manager if unsure.")
    # An answer that already cites a listed source is left as the model wrote it.
    assert attribute("Leave is 27 days [1].", sources) == "Leave is 27 days [1]."
    assert attribute("", sources) == ""
    assert attribute("Nothing here matches at all today.", sources) == (
        "Nothing here matches at all today.")
