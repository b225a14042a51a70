# release_version is a version site (release.toml): `invoke version.bump` rewrites it.
release_version = "0.1.0"

# Filled from dist/<version>/images.json by `invoke tf.plan --env local --images ...`
# when the images are released; empty until then.
image_digests = {}
