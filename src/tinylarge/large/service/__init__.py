"""The LargeML inference service (FastAPI): ``create_app(ServiceConfig)``; see ``main``."""

from tinylarge.large.service.config import ServiceConfig, load_config
from tinylarge.large.service.main import create_app

__all__ = ["ServiceConfig", "create_app", "load_config"]
