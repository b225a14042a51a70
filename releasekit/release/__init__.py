"""release: one release, planned and carried out step by step, resumable.

The plan (options, next version, tag rules), the typed ``Context`` with its artifact
registry, the pipeline (ordered steps with ``skip``/``run``, the state file for resume, the
lock), preflight, one module per step (``steps/``) and the verification of a published
release. Imports: every layer below it (``deploy``, ``publish``, ``build``, ``core``).
"""
