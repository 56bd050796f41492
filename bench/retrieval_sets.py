"""Readers for public labelled retrieval sets (none is shipped with Trellis).

Two layouts are understood; point the benchmark at a folder holding one set
per subfolder (or at one set's folder):

- BEIR layout (NFCorpus, FiQA, TREC-COVID, ArguAna, ... as published by the
  BEIR benchmark): ``corpus.jsonl`` (``_id``, ``title``, ``text``),
  ``queries.jsonl`` (``_id``, ``text``), ``qrels/test.tsv`` (query-id,
  corpus-id, score; ``dev.tsv`` when there is no test split).
- SMART layout, the classic test collections distributed by the University
  of Glasgow IR group: Cranfield (``cran.all.1400``, ``cran.qry``,
  ``cranqrel``), CISI (``CISI.ALL``, ``CISI.QRY``, ``CISI.REL``) and CACM
  (``cacm.all``, ``query.text``, ``qrels.text``).
  Medline (``MED.ALL``, ``MED.QRY``, ``MED.REL``) and ADI (``ADI.ALL``,
  ``ADI.QRY``, ``ADI.REL``) come in the same SMART layout.
- NPL (Vaswani), also from the Glasgow collections: ``doc-text``,
  ``query-text``, ``rlv-ass`` (records of an id line, text, and a ``/`` line).
- LISA (library and information science abstracts), also from Glasgow:
  ``Collections/LISA*.*`` (``Document N``, title lines, a blank line, the
  abstract, a line of ``*``), ``LISA.QUE`` (an id line, text ending in ``#``),
  ``LISARJ.NUM`` (query id, count, document ids, as whitespace-separated numbers).

BEIR SciFact is reserved for measuring (never tuning): a folder named
``scifact`` is read only when asked for by name.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEV_SETS", "Dataset", "find_sets", "load_set"]


#: The sets retrieval settings were chosen on (CACM since the first round, Medline added
#: in the third); every other set is reported as untuned.
DEV_SETS = ("cacm", "med")

_GLASGOW = ("no licence stated by the distributor (University of Glasgow IR group, "
            "ir.dcs.gla.ac.uk/resources/test_collections); not shipped, fetch it yourself")
_BEIR = "the licence of the BEIR release of that set; not shipped, fetch it yourself"


@dataclass
class Dataset:
    name: str
    source: str
    #: doc id -> (title, text)
    docs: dict[str, tuple[str, str]]
    queries: dict[str, str]
    #: query id -> {doc id: graded relevance > 0}
    qrels: dict[str, dict[str, int]]
    licence: str = _GLASGOW

    @property
    def tuned(self) -> bool:
        """Whether retrieval settings were chosen on this set (only the dev sets)."""
        return self.name in DEV_SETS

    def judged(self) -> dict[str, str]:
        """The queries with at least one relevant document."""
        return {q: t for q, t in self.queries.items() if self.qrels.get(q)}


_SMART_FIELD = re.compile(r"^\.([A-Z])(?:\s+(.*))?$")


def _smart_records(path: Path) -> list[tuple[str, dict[str, str]]]:
    """`.I id` records of SMART files, each a map of field letter to text."""
    records: list[tuple[str, dict[str, str]]] = []
    field = None
    for line in path.read_text(encoding="latin-1").splitlines():
        m = _SMART_FIELD.match(line.rstrip())
        if m and m.group(1) == "I":
            records.append(((m.group(2) or "").strip(), {}))
            field = None
        elif m:
            field = m.group(1)
            if records:
                records[-1][1].setdefault(field, "")
                if m.group(2):
                    records[-1][1][field] += m.group(2).strip() + "\n"
        elif field and records:
            records[-1][1][field] += line + "\n"
    return records


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _smart(folder: Path, name: str, docs_file: str, queries_file: str, qrels_file: str,
           source: str) -> Dataset:
    docs = {}
    for doc_id, fields in _smart_records(folder / docs_file):
        docs[str(int(doc_id))] = (_clean(fields.get("T", "")), _clean(fields.get("W", "")))
    queries = {}
    for n, (qid, fields) in enumerate(_smart_records(folder / queries_file), start=1):
        # Cranfield's relevance file numbers queries by position, not by their .I label.
        key = str(n) if name == "cranfield" else str(int(qid))
        queries[key] = _clean(fields.get("W", ""))
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / qrels_file).read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        qid, doc = str(int(parts[0])), str(int(parts[1]))
        gain = 1
        if name == "cranfield":
            code = int(parts[2]) if len(parts) > 2 else 4
            gain = 5 - code if 1 <= code <= 4 else 0  # 1 = complete answer ... 4 = minimum
        if gain > 0 and doc in docs:
            qrels.setdefault(qid, {})[doc] = gain
    return Dataset(name, source, docs, queries, qrels)


_SMART_SETS = {
    "cranfield": ("cran.all.1400", "cran.qry", "cranqrel",
                  "Cranfield 1400 (aeronautics abstracts), University of Glasgow IR test "
                  "collections"),
    "cisi": ("CISI.ALL", "CISI.QRY", "CISI.REL",
             "CISI (library and information science), University of Glasgow IR test collections"),
    "cacm": ("cacm.all", "query.text", "qrels.text",
             "CACM (Communications of the ACM titles and abstracts), University of Glasgow IR "
             "test collections"),
    "med": ("MED.ALL", "MED.QRY", "MED.REL",
            "Medline 1033 (biomedical abstracts), University of Glasgow IR test collections"),
    "adi": ("ADI.ALL", "ADI.QRY", "ADI.REL",
            "ADI (82 documentation abstracts), University of Glasgow IR test collections"),
}


def _slash_records(path: Path) -> list[tuple[str, str]]:
    """NPL's records: an id line, then text lines, ended by a line holding only "/"."""
    out: list[tuple[str, str]] = []
    rid, lines = None, []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip() == "/":
            if rid is not None:
                out.append((rid, " ".join(lines)))
            rid, lines = None, []
        elif rid is None:
            if line.strip():
                rid = str(int(line.strip()))
        else:
            lines.append(line)
    return out


def _npl(folder: Path) -> Dataset:
    docs = {d: ("", _clean(t)) for d, t in _slash_records(folder / "doc-text")}
    # Queries are upper case in the file; people type lower case.
    queries = {q: _clean(t).lower() for q, t in _slash_records(folder / "query-text")}
    qrels: dict[str, dict[str, int]] = {}
    for qid, ids in _slash_records(folder / "rlv-ass"):
        rel = {str(int(d)): 1 for d in ids.split() if str(int(d)) in docs}
        if rel:
            qrels[qid] = rel
    return Dataset("npl", "NPL (Vaswani; electronics and physics abstracts), University of "
                   "Glasgow IR test collections", docs, queries, qrels)


def _lisa(folder: Path) -> Dataset:
    docs: dict[str, tuple[str, str]] = {}
    for path in sorted((folder / "Collections").glob("LISA*")):
        text = path.read_text(encoding="latin-1")
        for record in re.split(r"^\*{10,}\s*$", text, flags=re.M):
            m = re.match(r"\s*Document\s+(\d+)\s*\n(.*)", record, flags=re.S)
            if not m:
                continue
            title, body = (re.split(r"\n\s*\n", m.group(2).strip(), maxsplit=1) + [""])[:2]
            # The collection is upper case; people read and type lower case. (Four
            # document numbers occur twice in the Glasgow files; the later record is kept.)
            docs[str(int(m.group(1)))] = (_clean(title).lower(), _clean(body).lower())
    queries = {}
    raw = (folder / "LISA.QUE").read_text(encoding="latin-1")
    for m in re.finditer(r"^\s*(\d+)\s*\n(.*?)#", raw, flags=re.S | re.M):
        queries[str(int(m.group(1)))] = _clean(m.group(2)).lower()
    qrels: dict[str, dict[str, int]] = {}
    numbers = (folder / "LISARJ.NUM").read_text(encoding="latin-1").split()
    i = 0
    while i + 1 < len(numbers):
        qid, count = str(int(numbers[i])), int(numbers[i + 1])
        ids = numbers[i + 2:i + 2 + count]
        rel = {str(int(d)): 1 for d in ids if str(int(d)) in docs}
        if rel:
            qrels[qid] = rel
        i += 2 + count
    return Dataset("lisa", "LISA (library and information science abstracts), University of "
                   "Glasgow IR test collections", docs, queries, qrels)


def _beir(folder: Path) -> Dataset:
    docs = {}
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs[str(row["_id"])] = (_clean(row.get("title") or ""), _clean(row.get("text") or ""))
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            queries[str(row["_id"])] = _clean(row["text"])
    split = next(p for p in (folder / "qrels" / "test.tsv", folder / "qrels" / "dev.tsv")
                 if p.is_file())
    qrels: dict[str, dict[str, int]] = {}
    with split.open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header line
            if int(row[2]) > 0 and row[1] in docs:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {q: t for q, t in queries.items() if q in qrels}
    return Dataset(folder.name.lower(), f"BEIR {folder.name} ({split.name} split)", docs,
                   queries, qrels, _BEIR)


def load_set(folder: Path) -> Dataset | None:
    """The set in `folder`, or None when it holds neither layout."""
    if (folder / "corpus.jsonl").is_file() and (folder / "queries.jsonl").is_file():
        return _beir(folder)
    if all((folder / f).is_file() for f in ("doc-text", "query-text", "rlv-ass")):
        return _npl(folder)
    if (folder / "LISA.QUE").is_file() and (folder / "LISARJ.NUM").is_file():
        return _lisa(folder)
    for name, (docs, queries, qrels, source) in _SMART_SETS.items():
        if all((folder / f).is_file() for f in (docs, queries, qrels)):
            return _smart(folder, name, docs, queries, qrels, source)
    return None


def find_sets(root: Path, names: list[str] | None = None) -> list[Dataset]:
    """Every set under `root` (itself or its subfolders), in name order."""
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    out = []
    for folder in folders:
        if folder.name.lower() == "scifact" and not (names and "scifact" in names):
            continue  # reserved for measuring: read only when asked for by name
        found = load_set(folder)
        if found is not None and (not names or found.name in names):
            out.append(found)
    return out
