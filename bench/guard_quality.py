"""Guard quality on labelled data, every evaluation set with its source.

    PYTHONPATH=. python bench/guard_quality.py [--policy standard|strict|all]
        [--only pii|injection] [--n 400] [--sets tune,holdout,independent,shared]
        [--injection-sets DIR]

PII, per evaluation set (each printed with its source):
- `faker:tune` and `faker:holdout` (bench/pii_eval_data.py): synthetic texts in
  15-30 locales; the recognizers were developed against `tune` only;
- `independent` (bench/pii_independent_data.py): no Faker at all; names from the
  CC0 popular-names-by-country dataset, addresses, towns and countries from
  OpenCage's address-formatting test cases (MIT), phone numbers from
  libphonenumber's metadata, templates of its own; never tuned on;
- `presidio-research generated_small.json` (../shared/data/pii, MIT), when present.
Per entity type: precision and recall (a prediction matches a gold span of the
same type when they overlap; gold ADDRESS/STREET_ADDRESS count as LOCATION),
and the leak rate: the share of gold values of the policy's types found
verbatim in the redacted text. Baseline in the same run: bare Presidio
(default recognizers, threshold 0.5).

Injection: ROC AUC and TPR at FPR <= 0.05 per source, each measured on what
scripts/train_injection.py held out of it (same seeds), for the classifier,
the heuristics and the combined score; leave-one-source-out figures come from
the trainer (core/guards/injection_model.json). With `--injection-sets DIR` (or
TRELLIS_INJECTION_SETS) it also measures public sets never trained or tuned on
(bench/injection_unseen.py: Giskard's prompt injections against prompts shared
for ordinary use), all rows and without those with a near-copy in the training
files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TRELLIS_SHARED_DIR", ROOT.parent / "shared"))
PII_DATA = SHARED / "data" / "pii" / "generated_small.json"
TARGET_RECALL = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD")
GOLD_ALIAS = {"ADDRESS": "LOCATION", "STREET_ADDRESS": "LOCATION"}
#: Row for the gold street addresses alone (recall and leak; they count as LOCATION above).
STREET = "  street addr."


def pii_scores(redact, data: list[dict], entities: list[str]) -> dict[str, dict[str, float]]:
    """Per entity: support, precision, recall, predictions, leaked gold values."""
    tp, fn, ptp, pall, leaked = Counter(), Counter(), Counter(), Counter(), Counter()
    for item in data:
        text = item["full_text"]
        preds, redacted = redact(text)
        gold = [
            (GOLD_ALIAS.get(s["entity_type"], s["entity_type"]), s["start_position"],
             s["end_position"])
            for s in item["spans"]
        ]  # fmt: skip
        for (et, a, b), span in zip(gold, item["spans"], strict=True):
            if et in entities:
                hit = any(p[0] == et and p[1] < b and p[2] > a for p in preds)
                tp[et] += hit
                fn[et] += not hit
                leaked[et] += text[a:b] in redacted
                if span["entity_type"] in GOLD_ALIAS:  # street addresses, also on their own
                    tp[STREET] += hit
                    fn[STREET] += not hit
                    leaked[STREET] += text[a:b] in redacted
        for et, a, b in preds:
            pall[et] += 1
            ptp[et] += any(g[0] == et and g[1] < b and g[2] > a for g in gold)
    out = {}
    for et in [*entities, STREET]:
        support = tp[et] + fn[et]
        out[et] = {
            "support": support,
            "recall": tp[et] / support if support else float("nan"),
            "precision": ptp[et] / pall[et] if pall[et] else float("nan"),
            "predicted": pall[et],
            "leaked": leaked[et],
        }
    return out


def print_pii_table(title: str, tables: dict, entities: list[str]) -> None:
    print(f"\n{title}")
    names = list(tables)
    print(f"{'entity':<14}{'n':>5}  " + "  ".join(f"{n:>32}" for n in names))
    for et in [*entities, STREET]:
        if not tables[names[0]][et]["support"] and not any(
            tables[n][et]["predicted"] for n in names
        ):
            continue
        cells = []
        for n in names:
            r = tables[n][et]
            leak = f"L {r['leaked'] / r['support']:.2f}" if r["support"] else "L  -  "
            if et == STREET:  # a subset of LOCATION's gold: recall and leak only
                cells.append(f"R {r['recall']:.2f} {leak}".rjust(32))
                continue
            cells.append(
                f"P {r['precision']:.2f} R {r['recall']:.2f} {leak} ({r['predicted']:>4})".rjust(32)
            )
        print(f"{et:<14}{tables[names[0]][et]['support']:>5}  " + "  ".join(cells))
    cells = []
    for n in names:
        total = sum(tables[n][e]["support"] for e in entities)
        leaked = sum(tables[n][e]["leaked"] for e in entities)
        cells.append(f"leaked {leaked}/{total} = {leaked / max(total, 1):.1%}".rjust(32))
    print(f"{'all':<14}{'':>5}  " + "  ".join(cells))


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, max_fpr: float = 0.05) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return float(tpr[fpr <= max_fpr].max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="all", help="standard, strict or all")
    parser.add_argument("--only", default="", help="pii or injection")
    parser.add_argument("--n", type=int, default=400, help="texts per Faker split")
    parser.add_argument(
        "--sets", default="", help="comma-separated PII sets: tune, holdout, independent, shared"
    )
    parser.add_argument(
        "--injection-sets", type=Path, default=os.environ.get("TRELLIS_INJECTION_SETS"),
        help="folder with the unseen injection sets (bench/injection_unseen.py)",
    )  # fmt: skip
    args = parser.parse_args()
    from core.config import enforce_offline

    enforce_offline()
    if args.only != "injection":
        run_pii(args)
    if args.only != "pii":
        run_injection(args.injection_sets)


def run_pii(args: argparse.Namespace) -> None:
    from bench.pii_eval_data import generate
    from bench.pii_independent_data import generate as generate_independent
    from core.guards.pii import (
        PiiScanner,
        Redactor,
        _anonymizer,
        _make_offline_email_recognizer,
        load_analyzer,
        storage_thresholds,
    )
    from core.guards.policy import BUILTIN_ENTITIES, builtin_policies

    wanted = set(filter(None, args.sets.split(","))) or {"tune", "holdout", "independent", "shared"}
    sets = [
        ("faker:tune (Faker, 15 locales; the split the recognizers were tuned on)",
         generate("tune", args.n)),
        ("faker:holdout (Faker, 30 locales, other templates; never tuned on)",
         generate("holdout", args.n)),
        ("independent (no Faker: CC0 popular names, OpenCage address-formatting test "
         "addresses (MIT), libphonenumber numbers; never tuned on)", generate_independent()),
    ]  # fmt: skip
    sets = [s for s, key in zip(sets, ("tune", "holdout", "independent"), strict=True)
            if key in wanted]  # fmt: skip
    if "shared" in wanted and PII_DATA.exists():
        sets.append(
            ("presidio-research generated_small.json (../shared/data/pii, MIT)",
             json.loads(PII_DATA.read_text()))
        )  # fmt: skip
    elif "shared" in wanted:
        print(f"{PII_DATA} is missing: measuring on the Faker sets only.")
    entities = list(BUILTIN_ENTITIES)
    scanner = PiiScanner()
    analyzer = load_analyzer()

    from presidio_analyzer import AnalyzerEngine
    from presidio_anonymizer.entities import OperatorConfig

    bare = AnalyzerEngine(nlp_engine=analyzer.nlp_engine, supported_languages=["en"])
    bare.registry.remove_recognizer("EmailRecognizer")  # the stock one would go online
    bare.registry.add_recognizer(_make_offline_email_recognizer())

    def bare_redact(text: str) -> tuple[list[tuple], str]:
        res = bare.analyze(text=text, language="en", entities=entities, score_threshold=0.5)
        out = _anonymizer().anonymize(
            text=text, analyzer_results=res,
            operators={"DEFAULT": OperatorConfig("replace", {"new_value": "<X>"})},
        )  # fmt: skip
        return [(r.entity_type, r.start, r.end) for r in res], out.text

    redactors = {"bare presidio (0.5)": bare_redact}
    for policy in builtin_policies():
        if policy.name not in ("standard", "strict") or args.policy not in ("all", policy.name):
            continue
        th = storage_thresholds(policy.entities)

        def redact(text: str, th: dict = th) -> tuple[list[tuple], str]:
            findings = scanner.scan(text, th)
            out, _ = Redactor().redact(text, findings)
            return [(f.entity_type, f.start, f.end) for f in findings], out

        redactors[f"trellis '{policy.name}'"] = redact
    for title, data in sets:
        tables = {n: pii_scores(r, data, entities) for n, r in redactors.items()}
        print_pii_table(f"PII on {title}: {len(data)} texts", tables, entities)


def run_injection(unseen_dir: Path | None = None) -> None:
    from sklearn.metrics import roc_auc_score

    from core.guards import injection
    from core.guards.policy import builtin_policies
    from scripts.train_injection import SOURCE_NOTES, load_sources

    thr = next(p for p in builtin_policies() if p.name == "standard").injection_threshold
    print("\nInjection, per source: the 20 % held out of each (never trained on)")
    for name, source in load_sources().items():
        xte, yte = source["test"]
        clf = injection.classifier_scores(xte)
        heur = np.array([injection.heuristic_score(t)[0] for t in xte])
        comb = np.array([injection.detect(t).score for t in xte])
        print(f"{name}: {SOURCE_NOTES[name]}; {len(xte)} prompts ({int(yte.sum())} injection)")
        for label, s in (("classifier", clf), ("heuristics", heur), ("combined", comb)):
            auc, tpr5 = roc_auc_score(yte, s), tpr_at_fpr(yte, s)
            print(f"  {label:<11} ROC AUC {auc:.3f}  TPR@FPR<=0.05 {tpr5:.3f}")
        pred = comb >= thr
        print(f"  at the policy threshold {thr}: TPR {pred[yte == 1].mean():.3f}, "
              f"FPR {pred[yte == 0].mean():.3f}")  # fmt: skip
        if name == "llm-warden":
            ok = tpr_at_fpr(yte, comb) >= 0.9
            print(f"  target TPR >= 0.90 at FPR <= 0.05 (combined): {'met' if ok else 'NOT met'}")
    loso = injection.provenance().get("leave_one_source_out", {})
    if loso:
        print("\nLeave one source out (scripts/train_injection.py: trained without the source, "
              "scored on all its rows; combined score)")  # fmt: skip
        for name, r in loso.items():
            print(f"  {name:<17} ROC AUC {r['roc_auc']:.3f}  TPR@FPR<=0.05 "
                  f"{r['tpr_at_fpr_0.05']:.3f}  at 0.5: TPR {r['tpr_at_0.5']:.3f} "
                  f"FPR {r['fpr_at_0.5']:.3f}")  # fmt: skip
    run_unseen(unseen_dir, thr)


def run_unseen(folder: Path | None, thr: float) -> None:
    """The public sets never trained or tuned on (bench/injection_unseen.py)."""
    from sklearn.metrics import roc_auc_score

    from bench.injection_unseen import load_unseen
    from core.guards import injection
    from scripts.train_injection import load_sources

    if folder is None:
        print("\nUnseen injection sets: none given (--injection-sets DIR or "
              "TRELLIS_INJECTION_SETS; see bench/injection_unseen.py).")  # fmt: skip
        return
    training = [t for s in load_sources().values() for part in ("train", "test")
                for t in s[part][0]]  # fmt: skip
    data = load_unseen(Path(folder), training)
    if data is None:
        print(f"\nUnseen injection sets: nothing readable in {folder} "
              "(see bench/injection_unseen.py).")  # fmt: skip
        return
    y = data.labels
    print(f"\nUnseen (never trained or tuned on): {data.source}")
    print(f"  {int(y.sum())} injections ({int(data.seen[y == 1].sum())} with a near-copy in "
          f"the training files), {int((y == 0).sum())} benign ({int(data.seen[y == 0].sum())} "
          "with a near-copy)")  # fmt: skip
    clf = np.concatenate([injection.classifier_scores(data.texts[i : i + 64])
                          for i in range(0, len(data.texts), 64)])  # fmt: skip
    heur = np.array([injection.heuristic_score(t)[0] for t in data.texts])
    comb = np.maximum(clf, heur)
    for subset, keep in (("all", np.ones(len(y), dtype=bool)), ("novel", ~data.seen)):
        yy = y[keep]
        print(f"  {subset} ({int(yy.sum())} injections, {int((yy == 0).sum())} benign)")
        if len(set(yy.tolist())) < 2:
            print("    skipped: it needs both injections and benign texts")
            continue
        for label, s in (("classifier", clf), ("heuristics", heur), ("combined", comb)):
            ss = s[keep]
            print(f"    {label:<11} ROC AUC {roc_auc_score(yy, ss):.3f}  "
                  f"TPR@FPR<=0.05 {tpr_at_fpr(yy, ss):.3f}")  # fmt: skip
        pred = comb[keep] >= thr
        print(f"    at the policy threshold {thr}: TPR {pred[yy == 1].mean():.3f}, "
              f"FPR {pred[yy == 0].mean():.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
