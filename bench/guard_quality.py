"""Guard quality on labelled public data.

    PYTHONPATH=. python bench/guard_quality.py [--policy standard|strict]

PII: precision and recall per entity type on ../shared/data/pii/generated_small.json
(presidio-research), a prediction matching a gold span of the same type when
the two overlap. The gold ADDRESS type counts as LOCATION (Presidio has no
ADDRESS); gold types no policy covers (ORGANIZATION, TITLE, ...) are ignored.
Baseline in the same run: bare Presidio (default recognizers, threshold 0.5).

Injection: ROC AUC and TPR at FPR <= 0.05 on the held-out split of
../shared/data/injection/train.csv that scripts/train_injection.py never
trained on (same seed), for the classifier alone, the heuristics alone and
the combined score; plus TPR/FPR at the policy's threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
PII_DATA = SHARED / "data" / "pii" / "generated_small.json"
TARGET_RECALL = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD")
GOLD_ALIAS = {"ADDRESS": "LOCATION"}


def _need(path: Path) -> None:
    if not path.exists():
        sys.exit(f"{path} is missing: the benchmarks read ../shared/data next to the repository.")


def pii_scores(predict, data: list[dict], entities: list[str]) -> dict[str, dict[str, float]]:
    tp, fn, ptp, pall = Counter(), Counter(), Counter(), Counter()
    for item in data:
        text = item["full_text"]
        preds = predict(text)
        gold = [
            (GOLD_ALIAS.get(s["entity_type"], s["entity_type"]), s["start_position"],
             s["end_position"])
            for s in item["spans"]
        ]
        for et, a, b in gold:
            if et in entities:
                hit = any(p[0] == et and p[1] < b and p[2] > a for p in preds)
                tp[et] += hit
                fn[et] += not hit
        for et, a, b in preds:
            pall[et] += 1
            ptp[et] += any(g[0] == et and g[1] < b and g[2] > a for g in gold)
    out = {}
    for et in entities:
        support = tp[et] + fn[et]
        out[et] = {
            "support": support,
            "recall": tp[et] / support if support else float("nan"),
            "precision": ptp[et] / pall[et] if pall[et] else float("nan"),
            "predicted": pall[et],
        }
    return out


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, max_fpr: float = 0.05) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return float(tpr[fpr <= max_fpr].max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="all", help="standard, strict or all")
    args = parser.parse_args()
    _need(PII_DATA)
    from core.config import enforce_offline

    enforce_offline()
    from core.guards.pii import PiiScanner, load_analyzer, storage_thresholds
    from core.guards.policy import BUILTIN_ENTITIES, builtin_policies

    data = json.loads(PII_DATA.read_text())
    entities = list(BUILTIN_ENTITIES)
    scanner = PiiScanner()
    analyzer = load_analyzer()

    from presidio_analyzer import AnalyzerEngine

    bare = AnalyzerEngine(nlp_engine=analyzer.nlp_engine, supported_languages=["en"])
    bare.registry.remove_recognizer("EmailRecognizer")  # the stock one would go online
    from core.guards.pii import _make_offline_email_recognizer

    bare.registry.add_recognizer(_make_offline_email_recognizer())

    def bare_predict(text: str) -> list[tuple]:
        res = bare.analyze(text=text, language="en", entities=entities, score_threshold=0.5)
        return [(r.entity_type, r.start, r.end) for r in res]

    tables = {"bare presidio (0.5)": pii_scores(bare_predict, data, entities)}
    for policy in builtin_policies():
        if policy.name not in ("standard", "strict") or args.policy not in ("all", policy.name):
            continue
        th = storage_thresholds(policy.entities)

        def predict(text: str, th: dict = th) -> list[tuple]:
            return [(f.entity_type, f.start, f.end) for f in scanner.scan(text, th)]

        tables[f"trellis '{policy.name}'"] = pii_scores(predict, data, entities)

    print(f"PII on {PII_DATA.name}: {len(data)} texts (span overlap, ADDRESS counted as LOCATION)")
    names = list(tables)
    print(f"{'entity':<14}{'n':>4}  " + "  ".join(f"{n:>26}" for n in names))
    for et in entities:
        cells = []
        for n in names:
            r = tables[n][et]
            cell = f"P {r['precision']:.2f} R {r['recall']:.2f} ({r['predicted']:>3})"
            cells.append(cell.rjust(26))
        print(f"{et:<14}{tables[names[0]][et]['support']:>4}  " + "  ".join(cells))
    for n in names[1:]:
        ok = all(tables[n][e]["recall"] >= 0.9 for e in TARGET_RECALL)
        got = ", ".join(f"{e} {tables[n][e]['recall']:.2f}" for e in TARGET_RECALL)
        print(f"target recall >= 0.90 ({n}): {'met' if ok else 'NOT met'}: {got}")

    from sklearn.metrics import roc_auc_score

    from core.guards import injection
    from scripts.train_injection import DEFAULT_DATA, load_split

    _need(DEFAULT_DATA)
    _xtr, _ytr, xte, yte = load_split(DEFAULT_DATA)
    clf = injection.classifier_scores(xte)
    heur = np.array([injection.heuristic_score(t)[0] for t in xte])
    comb = np.array([injection.detect(t).score for t in xte])
    print(f"\nInjection, held-out split: {len(xte)} prompts ({int(yte.sum())} jailbreak)")
    for name, s in (("classifier", clf), ("heuristics", heur), ("combined", comb)):
        auc, tpr5 = roc_auc_score(yte, s), tpr_at_fpr(yte, s)
        print(f"{name:<11} ROC AUC {auc:.3f}  TPR@FPR<=0.05 {tpr5:.3f}")
    policy = next(p for p in builtin_policies() if p.name == "standard")
    thr = policy.injection_threshold
    pred = comb >= thr
    tpr = pred[yte == 1].mean()
    fpr = pred[yte == 0].mean()
    print(f"at the policy threshold {thr}: TPR {tpr:.3f}, FPR {fpr:.3f}")
    print(
        "target TPR >= 0.90 at FPR <= 0.05 (combined): "
        + ("met" if tpr_at_fpr(yte, comb) >= 0.9 else "NOT met")
    )


if __name__ == "__main__":
    main()
