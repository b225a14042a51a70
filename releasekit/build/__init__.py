"""build: turn the workspace into artifacts under dist/, never touching a destination.

The input-hash cache, Python sdists and wheels, the standalone binary, the site tarball,
container images (specs, builds, smoke tests, SBOMs), checksums and the runner that builds
them side by side. Imports: ``core`` only.
"""
