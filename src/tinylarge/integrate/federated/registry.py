"""Framework name -> its module (config class, client functions, ``run_<framework>``), imported
only when used: a ClientApp on a SuperNode loads just the framework it is asked to run."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from tinylarge.integrate.federated.config import Framework

MODULES = {
    Framework.FL: "fl",
    Framework.FEDPROX: "fl",
    Framework.FTL: "ftl",
    Framework.FML: "fml",
    Framework.SL: "sl",
    Framework.FSL: "fsl",
    Framework.FFM: "ffm",
    Framework.ROBUST: "robust",
}
CONFIG_CLASSES = {
    Framework.FL: "FLConfig",
    Framework.FEDPROX: "FedProxConfig",
    Framework.FTL: "FTLConfig",
    Framework.FML: "FMLConfig",
    Framework.SL: "SLConfig",
    Framework.FSL: "FSLConfig",
    Framework.FFM: "FFMConfig",
    Framework.ROBUST: "RobustConfig",
}


def framework_module(framework: str | Framework) -> ModuleType:
    return import_module(f"tinylarge.integrate.federated.{MODULES[Framework(framework)]}")


def config_class(framework: str | Framework) -> Any:
    return getattr(framework_module(framework), CONFIG_CLASSES[Framework(framework)])


def run_framework(config: Any, **io: Any) -> Any:
    """``run_<framework>(config, **io)`` for ``config.framework``."""
    module = framework_module(config.framework)
    return module.run(config, **io)
