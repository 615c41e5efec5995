"""Client for Dream Central Storage (DCS), the service that holds every book's files.

``client`` speaks HTTP to DCS, ``tokens`` keeps its login token (shared through the Django
cache by all worker processes), ``upstream`` streams an answer, ``errors`` names failures.
"""

from media_proxy.dcs.client import (
    PASSTHROUGH_STATUSES,
    DCSClient,
    get_breaker,
    get_dcs_client,
    serves_name,
)
from media_proxy.dcs.errors import (
    CircuitOpen,
    DCSAuthError,
    DCSError,
    DCSNotFound,
    DCSTimeout,
    DCSUnavailable,
    PresignNotAllowed,
    UnservableName,
)
from media_proxy.dcs.listing import DCSFile
from media_proxy.dcs.upstream import UpstreamResponse

__all__ = [
    "PASSTHROUGH_STATUSES",
    "CircuitOpen",
    "DCSAuthError",
    "DCSClient",
    "DCSError",
    "DCSFile",
    "DCSNotFound",
    "DCSTimeout",
    "DCSUnavailable",
    "PresignNotAllowed",
    "UnservableName",
    "UpstreamResponse",
    "get_breaker",
    "get_dcs_client",
    "serves_name",
]
