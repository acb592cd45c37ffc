"""Liveness and readiness; needs no token."""

from __future__ import annotations

from fastapi import APIRouter

from api.http.deps import ContainerDep
from api.http.schemas import HealthOut, problems

router = APIRouter(tags=["health"])


@router.head("/health", include_in_schema=False)  # load balancers' health checks
@router.get(
    "/health",
    response_model=HealthOut,
    summary="Store kind, log head and read-model lag",
    responses=problems(503),
)
def health(container: ContainerDep) -> HealthOut:
    worker = container.worker
    return HealthOut.model_validate(
        {
            "status": "ok",
            **container.queries.health(),
            "worker": {
                "running": worker.is_alive() if worker is not None else None,
                "last_error": worker.last_error if worker is not None else None,
            },
        }
    )
