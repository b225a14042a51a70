"""core: what every layer stands on, and nothing above it.

Errors and exit codes, the one process runner (``run``), the one HTTP client (``http``:
timeouts, retries, auth), the manifest and the workspace with its dependency graph, git,
versions and their sites, the changelog, and file helpers (the atomic writer, sha256).
Imports: the standard library and third-party libraries only.
"""
