"""Precision and recall of the default rules on a labelled prompt set.

``data/labelled_prompts.jsonl`` has one prompt per line with its label (a default
category or ``benign``) and its split: ``dev`` prompts were used to write and
tune the rules; ``holdout`` prompts were written after the rules were frozen and
never tuned on, so their figures are the honest estimate for new prompts.
Benign prompts deliberately share words with unsafe ones ("shoot a photo",
"killer app", "suicide doors", "kids in swimsuits").

Run ``python tests/safety/test_safety_eval.py`` to print the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genguard.safety.rules import RulesClassifier

DATA = Path(__file__).parent / "data" / "labelled_prompts.jsonl"

# Floors pinned below the measured figures (see docs/safety.md), so a rule change
# that loses recall or adds false positives fails here.
FLOORS = {
    "all": (0.97, 0.85),  # (precision, recall)
    "dev": (0.98, 0.97),
    "holdout": (0.90, 0.40),
}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    right_category: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load() -> list[dict[str, str]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]


def evaluate(rows: list[dict[str, str]], classifier: RulesClassifier) -> Score:
    score = Score()
    for row in rows:
        found = classifier.match(row["prompt"])
        if row["label"] == "benign":
            if found:
                score.fp += 1
            else:
                score.tn += 1
        elif found:
            score.tp += 1
            score.right_category += row["label"] in found
        else:
            score.fn += 1
    return score


def scores() -> dict[str, Score]:
    rows = load()
    classifier = RulesClassifier()
    return {
        "all": evaluate(rows, classifier),
        "dev": evaluate([r for r in rows if r["split"] == "dev"], classifier),
        "holdout": evaluate([r for r in rows if r["split"] == "holdout"], classifier),
    }


def test_labelled_set_is_large_and_balanced_enough() -> None:
    rows = load()
    assert len(rows) >= 200
    labels = {r["label"] for r in rows}
    assert labels == {"benign", "sexual_minors", "violence", "self_harm", "hate"}
    assert sum(r["label"] == "benign" for r in rows) >= 100
    assert {r["split"] for r in rows} == {"dev", "holdout"}
    assert len({r["prompt"] for r in rows}) == len(rows)


def test_precision_and_recall_floors() -> None:
    for split, score in scores().items():
        precision_floor, recall_floor = FLOORS[split]
        assert score.precision >= precision_floor, (split, score)
        assert score.recall >= recall_floor, (split, score)


def test_flagged_prompts_get_their_labelled_category() -> None:
    score = scores()["all"]
    assert score.right_category == score.tp


if __name__ == "__main__":
    for split, s in scores().items():
        n = s.tp + s.fp + s.fn + s.tn
        print(
            f"{split:8} n={n:4} precision={s.precision:.3f} recall={s.recall:.3f} "
            f"(tp={s.tp} fp={s.fp} fn={s.fn} tn={s.tn})"
        )
