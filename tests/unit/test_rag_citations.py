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
