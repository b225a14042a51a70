"""publish: send built artifacts to their destinations, idempotently, and prove them.

Targets and credentials, the package index, the image registry, charts to OCI, release
assets, signatures, attestations and provenance, and the check of what a destination
serves. Each upload asks the destination first. Imports: ``build`` and ``core``.
"""
