"""Fill-mask metrics, counted per mask on exact `token_str` match: accuracy@k, MRR, by relation."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

K_STEPS = (1, 5, 10, 20, 50, 100)


def k_values(top_k: int) -> list[int]:
    return sorted({k for k in K_STEPS if k <= top_k} | {top_k})


@dataclass
class MaskOutcome:
    gold: str
    single_token: bool
    rank: int | None  # 1-based rank of the gold among the top-k; None when absent or not scorable
    relation: str | None = None


@dataclass
class MetricTotals:
    top_k: int
    masks: int = 0
    scored: int = 0
    not_single_token: int = 0
    hits_at: dict[int, int] = field(default_factory=dict)
    reciprocal_rank_sum: float = 0.0

    def add(self, outcome: MaskOutcome) -> None:
        self.masks += 1
        if not outcome.single_token:
            self.not_single_token += 1
            return
        self.scored += 1
        if outcome.rank is not None:
            self.reciprocal_rank_sum += 1 / outcome.rank
            for k in k_values(self.top_k):
                if outcome.rank <= k:
                    self.hits_at[k] = self.hits_at.get(k, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        def share(count: int) -> float:
            return count / self.scored if self.scored else 0.0

        return {
            "masks": self.masks,
            "masks_scored": self.scored,
            "masks_gold_not_single_token": self.not_single_token,
            "top1_accuracy": share(self.hits_at.get(1, 0)),
            "topk_accuracy": {str(k): share(self.hits_at.get(k, 0)) for k in k_values(self.top_k)},
            "mrr": self.reciprocal_rank_sum / self.scored if self.scored else 0.0,
        }


def summarize(outcomes: list[MaskOutcome], examples: int, top_k: int) -> dict[str, Any]:
    overall = MetricTotals(top_k)
    by_relation: dict[str, MetricTotals] = defaultdict(lambda: MetricTotals(top_k))
    for outcome in outcomes:
        overall.add(outcome)
        if outcome.relation is not None:
            by_relation[outcome.relation].add(outcome)
    metrics: dict[str, Any] = {"examples": examples, **overall.as_dict(), "top_k": top_k}
    if by_relation:
        metrics["by_relation"] = {name: totals.as_dict() for name, totals in sorted(by_relation.items())}
    return metrics
