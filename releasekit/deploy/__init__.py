"""deploy: run a published release somewhere and say whether it is healthy.

Helm (charts on a cluster, image pins, rollout), terraform, the docker compose pilot,
health checks, and the local testbed (registry, index, git remote and cluster on
loopback, the ``sandbox`` target of the tasks). Imports: ``publish``, ``build``, ``core``.
"""
