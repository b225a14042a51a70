"""Keyless signatures are pushed with the credentials of the target holding the image."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from releasekit.publish import keyless, signing

TARGETS = {
    "production": {
        "registry": "ghcr.io/ironcage",
        "registry_username_env": "REGISTRY_USERNAME",
        "registry_password_env": "REGISTRY_PASSWORD",
    },
    "lab": {"registry": "127.0.0.1:5000/ironcage", "plain_http": True},
}
ENV = {"REGISTRY_USERNAME": "octocat", "REGISTRY_PASSWORD": "ghs_token"}


def test_the_target_holding_the_registry_gives_the_credentials() -> None:
    access = keyless.registry_access(TARGETS, "ghcr.io/ironcage/app@sha256:" + "a" * 64, ENV)
    assert (access.plain_http, access.username, access.password) == (False, "octocat", "ghs_token")


def test_a_registry_no_target_holds_gets_no_credentials() -> None:
    access = keyless.registry_access(TARGETS, "quay.io/other/app@sha256:" + "a" * 64, ENV)
    assert (access.username, access.password) == ("", "")
    lab = keyless.registry_access(TARGETS, "127.0.0.1:5000/ironcage/app:1", ENV)
    assert lab.plain_http and lab.username == ""


def test_cosign_reads_only_that_registry_from_its_docker_config() -> None:
    access = keyless.registry_access(TARGETS, "ghcr.io/ironcage/app:1", ENV)
    with signing.registry_env("ghcr.io", access) as env:
        config = json.loads((Path(env["DOCKER_CONFIG"]) / "config.json").read_text())
    assert list(config["auths"]) == ["ghcr.io"]
    assert base64.b64decode(config["auths"]["ghcr.io"]["auth"]).decode() == "octocat:ghs_token"
    assert not Path(env["DOCKER_CONFIG"]).exists()
