"""The bidirectional integration patterns between TinyML and LargeML.

Downward (LargeML -> TinyML), one module per pattern, every one shaped the same way (a pydantic
config -> ``run_<pattern>(config, ...)`` -> a result dataclass with ``to_dict()``), the way Flower
strategies share one interface:

- :mod:`~tinylarge.integrate.distill`: knowledge distillation (soft targets, attention transfer),
  finished as int8 and measured in TFLM;
- :mod:`~tinylarge.integrate.transfer`: transfer learning for the few-label regime;
- :mod:`~tinylarge.integrate.label`: the LargeML model pseudo-labels unlabelled device data;
- :mod:`~tinylarge.integrate.search`: the most accurate student that fits a device's budgets.

Import rule: ``integrate`` builds on ``tiny``, ``train``, ``models`` and ``data``; nothing below it
imports it. The int8 converter (jax) loads only when a pattern quantizes.
"""

from tinylarge.integrate.distill import DistillConfig, DistillResult, FeatureLoss, run_distill
from tinylarge.integrate.label import LabelConfig, LabelResult, run_label
from tinylarge.integrate.search import Budget, SearchConfig, SearchResult, SearchSpace, run_search
from tinylarge.integrate.transfer import (
    TransferConfig,
    TransferMode,
    TransferResult,
    run_transfer,
)

__all__ = [
    "Budget",
    "DistillConfig",
    "DistillResult",
    "FeatureLoss",
    "LabelConfig",
    "LabelResult",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "TransferConfig",
    "TransferMode",
    "TransferResult",
    "run_distill",
    "run_label",
    "run_search",
    "run_transfer",
]
