"""A Kubernetes API emulator for tests: real clients, real schemas, simulated controllers."""

from .emulator import ALL_CONTROLLERS, KubeEmulator
from .errors import ApiError

__all__ = ["ALL_CONTROLLERS", "ApiError", "KubeEmulator"]
