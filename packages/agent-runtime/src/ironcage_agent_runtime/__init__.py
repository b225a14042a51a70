"""ironcage-agent-runtime: run tasks (lists of Python steps) in the sandbox under a time budget.

Serve it with ``ironcage-agent-runtime --port 8080`` or embed :class:`AgentRuntimeServer`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ironcage_agent_runtime._log import JsonLogger
from ironcage_agent_runtime.metrics import Metrics
from ironcage_agent_runtime.redis_store import RedisBackend
from ironcage_agent_runtime.resp import Redis, RedisError
from ironcage_agent_runtime.server import AgentRuntimeServer
from ironcage_agent_runtime.store import Backend, MemoryBackend, TaskStore
from ironcage_agent_runtime.tasks import (
    STATUSES,
    TERMINAL_STATUSES,
    StepResult,
    Task,
    TaskSpec,
    TaskStatus,
    ValidationError,
    execute_task,
)
from ironcage_agent_runtime.worker import QueueFullError, WorkerPool

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "AgentRuntimeServer",
    "Backend",
    "JsonLogger",
    "MemoryBackend",
    "Metrics",
    "QueueFullError",
    "Redis",
    "RedisBackend",
    "RedisError",
    "StepResult",
    "Task",
    "TaskSpec",
    "TaskStatus",
    "TaskStore",
    "ValidationError",
    "WorkerPool",
    "__version__",
    "execute_task",
]
