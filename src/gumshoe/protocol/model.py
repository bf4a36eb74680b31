"""botocore's Detective model: the single source of routes, shapes and error statuses."""

from __future__ import annotations

import functools

import botocore.loaders
from botocore.model import OperationModel, ServiceModel

SERVICE_NAME = "detective"
API_VERSION = "2018-10-26"


@functools.cache
def service_model() -> ServiceModel:
    loader = botocore.loaders.create_loader()
    data = loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(data, service_name=SERVICE_NAME)


def operations() -> list[OperationModel]:
    model = service_model()
    return [model.operation_model(name) for name in model.operation_names]


@functools.cache
def error_statuses() -> dict[str, int]:
    """HTTP status per modeled error shape, e.g. ``ValidationException -> 400``."""
    model = service_model()
    statuses: dict[str, int] = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        if shape.metadata.get("exception"):
            statuses[name] = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    return statuses


@functools.cache
def error_members(code: str) -> frozenset[str]:
    """Members an error shape declares besides ``Message``."""
    model = service_model()
    if code not in model.shape_names:
        return frozenset()
    shape = model.shape_for(code)
    return frozenset(m for m in shape.members if m != "Message")
