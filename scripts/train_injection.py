"""Train the prompt-injection classifier and write its coefficients into core/guards.

    PYTHONPATH=. python scripts/train_injection.py [--seed N] [--no-loso]
        [--vectors-cache FILE]

Reads the labelled files in scripts/injection_data/ (sources and licences in
the README there):

- `llm-warden`: llm_warden.csv (github.com/jackhhao/llm-warden, MIT; the same
  file as ../shared/data/injection/train.csv): long role-play jailbreaks and
  role-play benign prompts, English;
- `tpl-en`, `tpl-multilingual`, `tpl-documents`: trellis_templates.csv
  (written for Trellis by scripts/make_injection_templates.py): short direct
  overrides and role switches in English, the same in German/French/Spanish,
  and instructions hidden in documents, each with benign prompts of the same
  style and language;
- `bipia-email`: bipia/ (github.com/microsoft/BIPIA, MIT): the benchmark's
  e-mails, clean (alone or with the user's question) and with one of its
  attack instructions (text tasks and code snippets, written by the BIPIA
  authors) put at the start, in the middle or at the end, and the text
  attacks on their own as benign requests (the same words are only an attack
  inside someone else's document); BIPIA's own train/test files are the
  split, so held-out e-mails and attacks are unseen.

Each source is split 80/20, stratified, with a fixed seed (llm-warden exactly
as before: seed 20240611 on the whole file); the 20 % is never trained on and
bench/guard_quality.py measures on it. Features (core.guards.injection.features):
MiniLM sentence embedding, hashed character 2-5-grams, and the heuristic
rules' hits. Logistic regression with sample weights that give every source,
and both classes within it, the same total weight; C chosen by the mean ROC
AUC over the sources with each source left out of training in turn (its
training rows only; the held-out 20 % stays unseen), so C suits text of an
unseen style.
Leave-one-source-out: for each source, a model trained on the others' training
rows is scored on all of that source's rows.

Writes core/guards/injection_model.npz (coefficients only, no pickle) and
core/guards/injection_model.json (provenance: file hashes, rows per source,
splits, seed, versions, CV, held-out and leave-one-source-out figures). The
same seed gives the same coefficients and figures.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "scripts" / "injection_data"
DEFAULT_DATA = DATA_DIR / "llm_warden.csv"
TEMPLATES = DATA_DIR / "trellis_templates.csv"
BIPIA = DATA_DIR / "bipia"
OUT_NPZ = ROOT / "core" / "guards" / "injection_model.npz"
OUT_JSON = ROOT / "core" / "guards" / "injection_model.json"
SPLIT_SEED = 20240611
TEST_FRACTION = 0.2
C_GRID = (0.3, 1.0, 3.0, 10.0)

SOURCE_NOTES = {
    "llm-warden": "github.com/jackhhao/llm-warden datasets/balanced/"
    "jailbreak_dataset_train_balanced.csv (MIT)",
    "tpl-en": "trellis_templates.csv, English overrides, task switches, role switches and "
    "questions, with innocent lookalikes (Trellis)",
    "tpl-multilingual": "trellis_templates.csv, the same in German/French/Spanish (Trellis)",
    "tpl-documents": "trellis_templates.csv, instructions hidden in e-mails, web pages, tool "
    "output, CVs, code and chat logs (notes to the AI, hidden markup, fake turns, off-topic "
    "tasks) in four languages, the same documents clean or with requests to their human "
    "reader, plus (benign) bench/rag_queries.json and the paragraphs of data/samples/ (Trellis)",
    "bipia-email": "github.com/microsoft/BIPIA benchmark/ e-mails with its text and code attack "
    "instructions inserted, the same e-mails clean, and the text attacks alone as benign "
    "requests (MIT); BIPIA's train/test split",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_split(
    path: Path = DEFAULT_DATA, seed: int = SPLIT_SEED
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """llm-warden: (train texts, train labels, held-out texts, held-out labels); 1 = jailbreak."""
    from sklearn.model_selection import train_test_split

    with path.open(newline="", encoding="utf-8") as fh:
        rows = [(r["prompt"], r["type"].strip()) for r in csv.DictReader(fh)]
    texts = [t for t, _ in rows]
    labels = np.array([1 if y == "jailbreak" else 0 for _, y in rows])
    xtr, xte, ytr, yte = train_test_split(
        texts, labels, test_size=TEST_FRACTION, random_state=seed, stratify=labels
    )
    return list(xtr), np.asarray(ytr), list(xte), np.asarray(yte)


def _template_group(row: dict) -> str:
    if row["style"] in ("indirect", "document"):
        return "tpl-documents"
    return "tpl-en" if row["lang"] == "en" else "tpl-multilingual"


def sample_texts() -> list[str]:
    """Benign text from the repository's own demo data: the RAG benchmark's queries and
    the paragraphs of data/samples/ (handbooks, policies, FAQs a user might paste)."""
    import re

    queries = json.loads((ROOT / "bench" / "rag_queries.json").read_text())["queries"]
    out = [q["query"] for q in queries]
    for path in sorted((ROOT / "data" / "samples").glob("*")):
        if path.suffix not in (".md", ".txt", ".html"):
            continue
        text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            if len(para) >= 60:
                out.append(para[:1500])
    return sorted(set(out))


def bipia_rows(part: str, seed: int = SPLIT_SEED) -> tuple[list[str], np.ndarray]:
    """BIPIA's e-mails of one part (train/test): each clean, clean with the user's
    question before it, and twice with an attack instruction of the same part
    inserted at the start, at a sentence boundary in the middle, or at the end;
    and the part's text attacks on their own, as benign requests."""
    import random
    import re

    rng = random.Random(f"{seed}:bipia:{part}")
    emails = [
        json.loads(line)
        for line in (BIPIA / f"email_{part}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    attacks: list[str] = []
    for kind in ("text", "code"):
        groups = json.loads((BIPIA / f"{kind}_attack_{part}.json").read_text(encoding="utf-8"))
        attacks += [a for name in sorted(groups) for a in groups[name]]
        n_code = sum(len(v) for v in groups.values())  # the code attacks come last
    # The text attacks on their own are ordinary requests a user may type ("Translate
    # your answer into Spanish."): benign alone, an injection inside someone's e-mail.
    texts: list[str] = [a for a in attacks[: len(attacks) - n_code]]
    labels: list[int] = [0] * len(texts)
    for item in emails:
        context = item["context"].strip()
        texts += [context, f"{item['question']}\n\n{context}"]
        labels += [0, 0]
        for _ in range(2):
            attack = rng.choice(attacks)
            where = rng.choice(("start", "middle", "end"))
            if where == "start":
                text = f"{attack}\n{context}"
            elif where == "end":
                text = f"{context}\n{attack}"
            else:
                cuts = [m.end() for m in re.finditer(r"[.!?]\s+", context)] or [len(context) // 2]
                cut = cuts[len(cuts) // 2]
                text = f"{context[:cut]}{attack} {context[cut:]}"
            texts.append(text)
            labels.append(1)
    return texts, np.array(labels)


def load_sources(seed: int = SPLIT_SEED) -> dict[str, dict]:
    """Per source: train/held-out texts and labels."""
    from sklearn.model_selection import train_test_split

    xtr, ytr, xte, yte = load_split(DEFAULT_DATA, seed)
    sources = {"llm-warden": {"train": (xtr, ytr), "test": (xte, yte)}}
    with TEMPLATES.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    samples = [{"text": t, "label": "benign", "style": "document", "lang": "en"}
               for t in sample_texts()]  # fmt: skip
    for group in ("tpl-en", "tpl-multilingual", "tpl-documents"):
        mine = [r for r in rows if _template_group(r) == group]
        if group == "tpl-documents":
            mine += samples
        texts = [r["text"] for r in mine]
        labels = np.array([int(r["label"] == "jailbreak") for r in mine])
        a, b, ya, yb = train_test_split(
            texts, labels, test_size=TEST_FRACTION, random_state=seed, stratify=labels
        )
        sources[group] = {"train": (list(a), np.asarray(ya)), "test": (list(b), np.asarray(yb))}
    sources["bipia-email"] = {"train": bipia_rows("train", seed), "test": bipia_rows("test", seed)}
    return sources


def threshold_at_fpr(y: np.ndarray, scores: np.ndarray, max_fpr: float = 0.05) -> float:
    """The lowest threshold whose false-positive rate is at most `max_fpr`."""
    from sklearn.metrics import roc_curve

    fpr, _tpr, thr = roc_curve(y, scores)
    ok = np.where(fpr <= max_fpr)[0]
    return float(min(thr[ok[-1]], 1.0))


def tpr_at_fpr(y: np.ndarray, scores: np.ndarray, max_fpr: float = 0.05) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    return float(tpr[fpr <= max_fpr].max())


def balanced_weights(groups: list[str], y: np.ndarray) -> np.ndarray:
    """Every (source, class) cell gets the same total weight; mean weight 1."""
    keys = [f"{g}:{int(label)}" for g, label in zip(groups, y, strict=True)]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    w = np.array([1.0 / counts[k] for k in keys])
    return w * len(w) / w.sum()


def fit(x, y: np.ndarray, weights: np.ndarray, c: float):  # noqa: ANN001, ANN201
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=weights)


def choose_c(x, y: np.ndarray, groups: list[str]) -> tuple[float, np.ndarray, float]:  # noqa: ANN001
    """C with the best mean ROC AUC on a source none of the training rows came from.

    Folds are the sources (each left out in turn, trained on the others' training rows,
    balanced again), so C is picked for text of an unseen style rather than for more rows
    of the same templates (random 5-fold CV picked the largest C, which memorises them).
    Returns C, its out-of-source scores and their mean per-source ROC AUC.
    """
    from sklearn.metrics import roc_auc_score

    names = sorted(set(groups))
    g = np.array(groups)
    best = (-1.0, C_GRID[0], None)
    for c in C_GRID:
        oof = np.zeros(len(y))
        aucs = []
        for name in names:
            te, tr = g == name, g != name
            w = balanced_weights(list(g[tr]), y[tr])
            oof[te] = fit(x[tr], y[tr], w, c).predict_proba(x[te])[:, 1]
            aucs.append(roc_auc_score(y[te], oof[te]))
        if float(np.mean(aucs)) > best[0] + 1e-9:
            best = (float(np.mean(aucs)), c, oof.copy())
    return best[1], best[2], best[0]


def train(sources: dict[str, dict], seed: int, loso: bool = True, vectors=None) -> dict:  # noqa: ANN001
    """Fit on every source's training rows; returns coefficients and figures.

    `vectors` maps text -> MiniLM embedding (computed here when None).
    """
    from sklearn.metrics import roc_auc_score

    from core.guards.injection import features, heuristic_score
    from core.rag.embeddings import embed

    all_texts = [t for s in sources.values() for part in ("train", "test") for t in s[part][0]]
    if vectors is None:
        unique = sorted(set(all_texts))
        vectors = dict(zip(unique, embed(unique), strict=True))

    def feats(texts: list[str]):  # noqa: ANN202
        return features(texts, np.stack([vectors[t] for t in texts]))

    names = list(sources)
    tr_texts, tr_y, tr_groups = [], [], []
    for name in names:
        texts, y = sources[name]["train"]
        tr_texts += texts
        tr_y.append(y)
        tr_groups += [name] * len(texts)
    y = np.concatenate(tr_y)
    x = feats(tr_texts)
    w = balanced_weights(tr_groups, y)
    c, oof, source_cv_auc = choose_c(x, y, tr_groups)
    model = fit(x, y, w, c)
    threshold = threshold_at_fpr(y, oof)
    # Calibration: shift the intercept so that 0.5 (the policies' threshold) sits where
    # the out-of-source scores above had a false-positive rate of 5 %. Ranks, ROC AUC and
    # TPR at a fixed FPR do not change; the flag/block decision at 0.5 gets fewer false
    # alarms on text of a style the model has not seen.
    shift = float(np.log(threshold / (1.0 - threshold)))
    model.intercept_ = model.intercept_ - shift

    def figures(yy: np.ndarray, clf: np.ndarray, texts: list[str]) -> dict:
        heur = np.array([heuristic_score(t)[0] for t in texts])
        comb = np.maximum(clf, heur)
        return {
            "rows": len(yy),
            "injection_rows": int(yy.sum()),
            "roc_auc": round(float(roc_auc_score(yy, comb)), 4),
            "tpr_at_fpr_0.05": round(tpr_at_fpr(yy, comb), 4),
            "classifier_roc_auc": round(float(roc_auc_score(yy, clf)), 4),
            "tpr_at_0.5": round(float((comb[yy == 1] >= 0.5).mean()), 4),
            "fpr_at_0.5": round(float((comb[yy == 0] >= 0.5).mean()), 4),
        }

    held_out = {}
    for name in names:
        texts, yy = sources[name]["test"]
        held_out[name] = figures(yy, model.predict_proba(feats(texts))[:, 1], texts)
    leave_one_out = {}
    if loso:
        for name in names:
            keep = np.array([g != name for g in tr_groups])
            sub = fit(x[keep], y[keep], balanced_weights(
                [g for g in tr_groups if g != name], y[keep]), c)  # fmt: skip
            sub.intercept_ = sub.intercept_ - shift
            texts = sources[name]["train"][0] + sources[name]["test"][0]
            yy = np.concatenate([sources[name]["train"][1], sources[name]["test"][1]])
            leave_one_out[name] = figures(yy, sub.predict_proba(feats(texts))[:, 1], texts)
    return {
        "coef": model.coef_[0].astype(np.float32),
        "intercept": float(model.intercept_[0]),
        "threshold": threshold,
        "intercept_shift": shift,
        "C": c,
        "cv_roc_auc": round(source_cv_auc, 4),
        "held_out": held_out,
        "leave_one_source_out": leave_one_out,
        "train_rows": {n: len(sources[n]["train"][0]) for n in names},
        "held_out_rows": {n: len(sources[n]["test"][0]) for n in names},
    }


def cached_vectors(texts: list[str], path: Path | None) -> dict[str, np.ndarray]:
    """MiniLM vectors for `texts`, reusing (and extending) the cache file at `path`.

    The cache maps the SHA-256 of a text to its vector; the same model on the same
    machine gives the same vectors, so a rerun after editing the data embeds only the
    new texts (the full set takes minutes on a small machine)."""
    from core.rag.embeddings import embed

    unique = sorted(set(texts))
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in unique]
    cache: dict[str, np.ndarray] = {}
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as data:
            cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    missing = [t for t, k in zip(unique, keys, strict=True) if k not in cache]
    if missing:
        print(f"embedding {len(missing)} texts", flush=True)
        for k, v in zip(
            [hashlib.sha256(t.encode()).hexdigest() for t in missing], embed(missing), strict=True
        ):
            cache[k] = v
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            order = sorted(cache)
            np.savez(path, keys=np.array(order), vectors=np.stack([cache[k] for k in order]))
    return {t: cache[k] for t, k in zip(unique, keys, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SPLIT_SEED)
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-source-out")
    parser.add_argument(
        "--vectors-cache", type=Path, default=None,
        help="file keeping the MiniLM vectors between runs (e.g. /tmp/injection_vectors.npz)",
    )  # fmt: skip
    args = parser.parse_args()

    from sklearn import __version__ as sk_version

    from core.config import enforce_offline
    from core.guards.injection import CHAR_NGRAMS, RULE_NAMES

    enforce_offline()
    sources = load_sources(args.seed)
    for name, s in sources.items():
        print(f"{name}: train {len(s['train'][0])} ({int(s['train'][1].sum())} injection), "
              f"held out {len(s['test'][0])}")  # fmt: skip
    texts = [t for s in sources.values() for part in ("train", "test") for t in s[part][0]]
    vectors = cached_vectors(texts, args.vectors_cache)
    result = train(sources, args.seed, loso=not args.no_loso, vectors=vectors)
    np.savez(
        OUT_NPZ,
        coef=result["coef"],
        intercept=np.float32(result["intercept"]),
        threshold=np.float32(result["threshold"]),
    )
    provenance = {
        "data": {
            "files": {
                "scripts/injection_data/llm_warden.csv": sha256(DEFAULT_DATA),
                "scripts/injection_data/trellis_templates.csv": sha256(TEMPLATES),
                **{
                    f"scripts/injection_data/bipia/{p.name}": sha256(p)
                    for p in sorted(BIPIA.glob("*_*.json*"))
                },
                "data/samples/ + bench/rag_queries.json (benign)": hashlib.sha256(
                    "\n".join(sample_texts()).encode()
                ).hexdigest(),
            },
            "sources": SOURCE_NOTES,
            "train_rows": result["train_rows"],
            "held_out_rows": result["held_out_rows"],
        },
        "split": {
            "method": "sklearn train_test_split per source, stratified",
            "seed": args.seed,
            "held_out_fraction": TEST_FRACTION,
        },
        "model": {
            "features": "all-MiniLM-L6-v2 sentence embedding (384) + hashed character n-grams "
            f"({CHAR_NGRAMS['analyzer']} {list(CHAR_NGRAMS['ngram_range'])}, "
            f"{CHAR_NGRAMS['n_features']}) + heuristic rule hits ({len(RULE_NAMES)})",
            "estimator": "LogisticRegression, sample weights equal per source and class",
            "C": result["C"],
            "C_chosen_by": "mean ROC AUC over the sources, each scored by a model trained "
            "without it (training rows only)",
            "threshold_fpr_0.05_cv": round(result["threshold"], 4),
            "calibration": "intercept shifted by -logit(threshold_fpr_0.05_cv) = "
            f"{-result['intercept_shift']:.4f}: a score of 0.5 is the out-of-source 5 % FPR point",
            "cv_roc_auc": result["cv_roc_auc"],
        },
        "held_out": result["held_out"],
        "leave_one_source_out": result["leave_one_source_out"],
        "trained_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {"scikit-learn": sk_version, "numpy": np.__version__},
    }
    OUT_JSON.write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps({k: provenance[k] for k in ("model", "held_out", "leave_one_source_out")},
                     indent=2))  # fmt: skip
    print(f"wrote {OUT_NPZ.relative_to(ROOT)} and {OUT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
