"""Learning together on Flower: FL, FedProx, FTL, FML, SL, FSL and FFM across TinyML devices and
LargeML servers, one module per framework, every one ``run_<framework>(config, *, dataset, cache,
out_dir, progress) -> FederatedResult``.

- :mod:`.fl` FedAvg / FedProx of a tiny student; :mod:`.ftl` a frozen int8 backbone from the
  LargeML teacher with a federated head; :mod:`.fml` Reptile-style federated meta-learning;
  :mod:`.sl` split learning and SplitFed v1/v2; :mod:`.ffm` federated LoRA of a foundation model.
- Shared: :mod:`.config`, :mod:`.clients` (who holds what), :mod:`.local` (the one local update),
  :mod:`.pricing` (radio, compute, memory), :mod:`.selection` (the selector protocol),
  :mod:`.strategy` (Flower strategies by name + selection), :mod:`.apps` (the ClientApp and
  ServerApp), :mod:`.engine` (simulation) and :mod:`.deployment` (SuperLink + SuperNodes).

Layer 4: network-aware client selection comes from ``orchestrate`` (layer 5) by reference.
"""

from tinylarge.integrate.federated.config import Engine, FederatedConfig, Framework, RadioConfig
from tinylarge.integrate.federated.ledger import RoundRecord
from tinylarge.integrate.federated.registry import config_class, run_framework
from tinylarge.integrate.federated.result import FederatedResult
from tinylarge.integrate.federated.selection import ClientState, Selector, random_selection

__all__ = [
    "ClientState",
    "Engine",
    "FederatedConfig",
    "FederatedResult",
    "Framework",
    "RadioConfig",
    "RoundRecord",
    "Selector",
    "config_class",
    "random_selection",
    "run_framework",
]
