"""The bidirectional integration patterns between TinyML and LargeML, one module each, all with
one shape (:mod:`~tinylarge.integrate.pattern`), the way Flower strategies share one interface.

Down (LargeML -> TinyML; students end as int8 measured in TFLM, :mod:`.students`): ``distill``
(soft targets, attention transfer), ``transfer`` (few device labels), ``label`` (the teacher
pseudo-labels device data), ``search`` (the best student that fits a device). Up (TinyML ->
LargeML): ``cascade`` (offload what the device is unsure of), ``early_exit`` (a side exit skips
the rest of the network), ``split`` (the device runs the first blocks); cascade and early exit
share the gate calibration (:mod:`.calibration`).

Import rule: ``integrate`` builds on ``large``, ``tiny``, ``train``, ``net``, ``models`` and
``data``; only ``orchestrate``, ``scenario`` and ``cli`` import it. The int8 converter (jax) loads
only when a pattern quantizes.
"""

from tinylarge.integrate.cascade import CascadeConfig, CascadeResult, run_cascade
from tinylarge.integrate.distill import DistillConfig, DistillResult, FeatureLoss, run_distill
from tinylarge.integrate.early_exit import EarlyExitConfig, EarlyExitResult, run_early_exit
from tinylarge.integrate.label import LabelConfig, LabelResult, run_label
from tinylarge.integrate.search import Budget, SearchConfig, SearchResult, SearchSpace, run_search
from tinylarge.integrate.split import Objective, SplitConfig, SplitResult, run_split
from tinylarge.integrate.transfer import TransferConfig, TransferMode, TransferResult, run_transfer

__all__ = [
    "Budget", "CascadeConfig", "CascadeResult", "DistillConfig", "DistillResult",
    "EarlyExitConfig", "EarlyExitResult", "FeatureLoss", "LabelConfig", "LabelResult",
    "Objective", "SearchConfig", "SearchResult", "SearchSpace", "SplitConfig", "SplitResult",
    "TransferConfig", "TransferMode", "TransferResult", "run_cascade", "run_distill",
    "run_early_exit", "run_label", "run_search", "run_split", "run_transfer",
]  # fmt: skip
