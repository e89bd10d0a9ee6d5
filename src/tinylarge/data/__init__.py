"""Real datasets that ship inside pip packages (nothing is downloaded), seeded splits, partitions.

Every input is 4-D NCHW float32: images are ``(n, 1, H, W)``; time series are ``(n, C, 1, L)``
(sensor axes as channels, H = 1) because 1-D nets are written as ``Conv2d`` with ``(1, k)`` kernels,
the form that converts cleanly to int8 TFLite (see DESIGN.md).
"""

from tinylarge.data.netops import load_netops
from tinylarge.data.partition import partition_by_group, partition_dirichlet, partition_iid
from tinylarge.data.registry import Dataset, DatasetInfo, list_datasets, load_dataset

__all__ = [
    "Dataset",
    "DatasetInfo",
    "list_datasets",
    "load_dataset",
    "load_netops",
    "partition_by_group",
    "partition_dirichlet",
    "partition_iid",
]
