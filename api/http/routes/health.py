"""Liveness and readiness; needs no token."""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import APIRouter, Response

from api.bootstrap import Container
from api.http.deps import ContainerDep
from api.http.schemas import HealthOut, LiveOut, problems

router = APIRouter(tags=["health"])

# 503: degraded (the health body, with reasons), or the store unreachable (problem+json).
DEGRADED: dict[int | str, dict[str, Any]] = {503: {**problems(503)[503], "model": HealthOut}}


@router.head("/health", include_in_schema=False)  # load balancers' health checks
@router.get(
    "/health",
    response_model=HealthOut,
    summary="Readiness: 200 when reads and writes would succeed, 503 `degraded` with reasons",
    responses=DEGRADED,
)
def health(container: ContainerDep, response: Response) -> HealthOut:
    state = container.queries.health()  # the store unreachable: 503 problem+json
    reasons = degraded(container, state["lag"], state["stalled_seconds"]) + [
        f"a stream is set aside: {why}" for why in state["set_aside"]
    ]
    log = _log_status(container)
    if log is not None:
        reasons += log.pop("reasons")
    if reasons:
        response.status_code = 503
    worker = container.worker
    return HealthOut.model_validate(
        {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            **state,
            "worker": _worker(worker),
            "log": log,
        }
    )


class Worker(Protocol):
    """A background worker as health sees it (ProjectorThread, LogThread)."""

    last_error: str | None
    failing_since: float | None

    def is_alive(self) -> bool: ...


def _worker(worker: Worker | None) -> dict[str, Any]:
    return {
        "running": worker.is_alive() if worker is not None else None,
        "last_error": worker.last_error if worker is not None else None,
    }


def _worker_reasons(worker: Worker | None, bound: float, name: str, failing: str) -> list[str]:
    """Why a worker makes the service degraded: stopped, or failing for at least `bound`."""
    if worker is None:
        return []
    if not worker.is_alive():
        return [f"{name} of this process has stopped"]
    if worker.failing_since is not None:
        seconds = time.monotonic() - worker.failing_since
        if seconds >= bound:
            return [f"{failing} has been failing for {seconds:.0f}s: {worker.last_error}"]
    return []


def _log_status(container: Container) -> dict[str, Any] | None:
    """The verifiable log's part: its status and why it would make the service degraded
    (integration failing or stalled for longer than the bound, checkpoints not keeping up)."""
    service = container.log_service
    if service is None:
        return None
    status = service.status()
    bound = container.settings.health_stall_seconds
    worker = container.log_worker
    reasons = _worker_reasons(
        worker, bound, "the log integration worker", "integration of the verifiable log"
    )
    checkpoint = status["checkpoint"]
    if (
        container.checkpointer is not None
        and checkpoint is not None
        and checkpoint["size"] < status["tree_size"]
        and checkpoint["age_seconds"] >= bound
    ):
        reasons.append(
            f"the latest checkpoint is {checkpoint['age_seconds']:.0f}s old and behind the tree"
        )
    if (
        checkpoint is not None
        and not checkpoint["published"]
        and checkpoint["age_seconds"] >= bound
    ):
        reasons.append(
            f"the latest checkpoint has {checkpoint['cosignatures']} of the "
            f"{container.settings.log_witness_quorum} cosignatures it needs, "
            f"{checkpoint['age_seconds']:.0f}s after it was signed (are the witnesses up?)"
        )
    return {**status, "reasons": reasons, "worker": _worker(worker)}


def degraded(container: Container, lag: int, stalled_seconds: float) -> list[str]:
    """Why reads would fail or wait: the read-model worker stopped or failing for longer than
    the bound, or the read models behind the log without moving for longer than it."""
    bound = container.settings.health_stall_seconds
    reasons = _worker_reasons(
        container.worker, bound, "the read-model worker", "the read-model worker"
    )
    if lag and stalled_seconds >= bound:
        reasons.append(
            f"the read models are {lag} log positions behind and have not moved for "
            f"{stalled_seconds:.0f}s (is `custody project` running?)"
        )
    return reasons


@router.get(
    "/livez",
    response_model=LiveOut,
    summary="Liveness for process supervisors: the process answers (no database call)",
)
def live() -> LiveOut:
    return LiveOut(status="alive")
