"""release: one release, planned and carried out step by step, resumable.

The plan (options, next version, tag rules), the pipeline (ordered steps, state for
resume, the lock), preflight, the steps themselves and the verification of a published
release. Imports: every layer below it (``deploy``, ``publish``, ``build``, ``core``).
"""
