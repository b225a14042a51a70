"""Each job holds what it needs and nothing more: tools, credentials, secrets, concurrency.

Read from the workflow files: a build holds no secret and no write token (but the shard
builds of the release, which push the shared cache and their images by digest: packages
only); publishing runs in the protected `release` environment from the shards' artifacts;
terraform is installed where terraform runs; deploy jobs get cloud credentials through OIDC
before terraform or helm; dry runs and releases never share a concurrency group.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.integration

WORKFLOWS = REPO / ".github" / "workflows"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@"
TERRAFORM_SETUP = "hashicorp/setup-terraform@"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for name, job in _load(path.name)["jobs"].items()
    ]


def _runs(job: dict[str, Any]) -> list[list[str]]:
    return [shlex.split(step["run"]) for step in job["steps"] if "run" in step]


def _uses(job: dict[str, Any], prefix: str) -> list[int]:
    return [i for i, step in enumerate(job["steps"]) if step.get("uses", "").startswith(prefix)]


# Steps of a release that build nothing: a release stopped after one runs no build backend.
_NOT_BUILDING = ("preflight", "version", "prepare")
# Jobs that build and may write packages (the shared build cache, images pushed by digest).
_PUSH_PACKAGES = {("release.yml", "build")}


def _builds(job: dict[str, Any]) -> bool:
    """The job runs build backends: a nox session, `invoke build`, or a release that is not
    a resume, a merge of shards, nor stopped before its build."""
    for argv in _runs(job):
        if argv[0] == ".venv/bin/nox":
            return True
        if argv[:2] == [".venv/bin/invoke", "build"]:
            return True
        adopting = "--resume" in argv or "--merge" in argv
        if argv[:2] == [".venv/bin/invoke", "release"] and not adopting:
            stop = argv[argv.index("--stop-after") + 1] if "--stop-after" in argv else ""
            if stop not in _NOT_BUILDING:
                return True
    return False


@pytest.mark.parametrize("where", _jobs(), ids=lambda j: f"{j[0]}:{j[1]}")
def test_a_job_that_builds_holds_no_secret_and_no_write_token(
    where: tuple[str, str, dict[str, Any]],
) -> None:
    workflow, name, job = where
    if not _builds(job):
        return
    assert "secrets." not in json.dumps(job), f"{workflow}:{name} builds next to a secret"
    allowed = {"packages"} if (workflow, name) in _PUSH_PACKAGES else set()
    writes = {scope for scope, grant in job["permissions"].items() if grant == "write"}
    assert writes <= allowed, f"{workflow}:{name} builds with a write token"
    assert "environment" not in job, f"{workflow}:{name} builds inside a protected environment"


@pytest.mark.parametrize("where", _jobs(), ids=lambda j: f"{j[0]}:{j[1]}")
def test_secrets_are_read_only_in_a_protected_environment(
    where: tuple[str, str, dict[str, Any]],
) -> None:
    workflow, name, job = where
    if "secrets." in json.dumps(job):
        assert "environment" in job, f"{workflow}:{name} reads secrets outside an environment"


def test_the_release_merges_the_shards_it_receives() -> None:
    jobs = _load("release.yml")["jobs"]
    prepare, build, release = jobs["prepare"], jobs["build"], jobs["release"]
    stop = next(a for a in _runs(prepare) if a[:2] == [".venv/bin/invoke", "release"])
    assert stop[stop.index("--stop-after") + 1] == "prepare"
    pushed = next(a for a in _runs(prepare) if a[:2] == [".venv/bin/invoke", "release.ref"])
    assert pushed[2] == "--push"
    ref = prepare["env"][pushed[3].strip("$")]

    assert build["needs"] == "prepare"
    checkout = build["steps"][_uses(build, "actions/checkout@")[0]]["with"]
    assert checkout["ref"] == ref
    shards = [entry["shard"] for entry in build["strategy"]["matrix"]["include"]]
    assert shards == [f"{i}/{len(shards)}" for i in range(1, len(shards) + 1)]
    names = [entry["artifact"] for entry in build["strategy"]["matrix"]["include"]]
    assert len(set(names)) == len(names)
    sharding = next(a for a in _runs(build) if a[:2] == [".venv/bin/invoke", "build"])
    assert sharding[sharding.index("--shard") + 1] == "$SHARD"
    uploaded = build["steps"][_uses(build, "actions/upload-artifact@")[0]]["with"]
    assert uploaded["name"] == "${{ matrix.artifact }}"
    assert uploaded["path"].endswith(".tar")

    assert release["needs"] == "build"
    assert release["environment"] == "release"
    downloaded = release["steps"][_uses(release, "actions/download-artifact@")[0]]["with"]
    assert downloaded["merge-multiple"] is True
    assert all(name.startswith(downloaded["pattern"].rstrip("*")) for name in names)
    assert release["env"]["RELEASE_REF"] == ref
    runs = _runs(release)
    adopt = runs.index([".venv/bin/invoke", "release.ref", "--checkout", "$RELEASE_REF",
                        "--target", "production"])  # fmt: skip
    merge = next(i for i, argv in enumerate(runs) if argv[:3] == [".venv/bin/invoke", "release",
                 "--merge"])  # fmt: skip
    assert runs[merge][3] == downloaded["path"]
    assert adopt < merge
    # Nothing is tagged or published before the merge: only the release job may.
    for name, job in jobs.items():
        if name != "release":
            assert "--resume" not in json.dumps(job), name
            assert "environment" not in job, name


def test_keyless_signing_has_the_registry_credentials() -> None:
    release = _load("release.yml")["jobs"]["release"]
    assert {"REGISTRY_USERNAME", "REGISTRY_PASSWORD"} <= set(release["env"])
    assert release["env"]["REGISTRY_PASSWORD"] == "${{ github.token }}"
    assert release["permissions"]["packages"] == "write"


def test_the_release_takes_its_bump_from_the_commits_by_default() -> None:
    data = _load("release.yml")
    # YAML 1.1 reads the key `on` as True.
    part = data[True]["workflow_dispatch"]["inputs"]["part"]
    assert part["default"] == "auto"
    assert data["env"]["PART"] == "${{ inputs.part != 'auto' && inputs.part || '' }}"


def test_dry_runs_and_releases_never_share_a_group_and_a_release_is_never_cancelled() -> None:
    concurrency = _load("release.yml")["concurrency"]
    group = concurrency["group"]
    assert "format('release-dry-run-{0}', github.ref)" in group
    assert "format('release-{0}', github.run_id)" in group
    assert concurrency["cancel-in-progress"] == "${{ inputs.dry_run }}"
    assert _load("deploy.yml")["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("where", _jobs(), ids=lambda j: f"{j[0]}:{j[1]}")
def test_terraform_is_installed_where_terraform_runs(
    where: tuple[str, str, dict[str, Any]],
) -> None:
    workflow, name, job = where
    runs = _runs(job)
    tasks = [a[1] for a in runs if a[0] == ".venv/bin/invoke"]
    if any(t.startswith("tf.") for t in tasks):
        assert _uses(job, TERRAFORM_SETUP), f"{workflow}:{name} runs terraform without it"
        setup = next(a for a in runs if a[0] == "scripts/setup.sh")
        assert "terraform" in setup[2].split(","), f"{workflow}:{name}"
    for entry in job.get("strategy", {}).get("matrix", {}).get("include", []):
        if entry.get("session") in ("terraform", "e2e"):
            assert entry["terraform"] is True, entry
            assert entry["with"] == "all" or "terraform" in entry["with"].split(","), entry


def test_no_job_builds_the_cluster_unless_its_sessions_start_one() -> None:
    matrix = _load("ci.yml")["jobs"]["tools"]["strategy"]["matrix"]["include"]
    for entry in matrix:
        parts = entry["with"].split(",")
        starts_cluster = entry["session"] in ("cluster", "gitops", "e2e")
        assert ("cluster" in parts or entry["with"] == "all") is starts_cluster, entry
    checks = _load("ci.yml")["jobs"]["checks"]
    assert [a for a in _runs(checks) if a[0] == "scripts/setup.sh"] == [
        ["scripts/setup.sh", "--with", "redis,helm"]
    ]


@pytest.mark.parametrize("name", ["plan", "apply", "gitops"])
def test_deploy_jobs_get_cloud_credentials_through_oidc_first(name: str) -> None:
    job = _load("deploy.yml")["jobs"][name]
    assert job["permissions"]["id-token"] == "write"
    (credentials,) = _uses(job, AWS_CREDENTIALS)
    given = job["steps"][credentials]["with"]
    role = {"plan": "${{ vars.CLOUD_PLAN_ROLE }}", "apply": "${{ vars.CLOUD_ROLE }}",
            "gitops": "${{ vars.CLOUD_ROLE }}"}[name]  # fmt: skip
    assert given["role-to-assume"] == role
    assert given["aws-region"] == "${{ vars.CLOUD_REGION }}"
    cloud = [
        i
        for i, step in enumerate(job["steps"])
        if any(t in step.get("run", "") for t in ("tf.", "helm.", "health"))
    ]
    assert cloud and min(cloud) > credentials


def test_the_plan_role_is_trusted_for_the_branch_and_the_apply_role_for_the_environment() -> None:
    jobs = _load("deploy.yml")["jobs"]
    assert "environment" not in jobs["plan"]
    assert jobs["plan"]["if"].startswith("github.ref == 'refs/heads/main' && ")
    assert jobs["gitops"]["if"].startswith("github.ref == 'refs/heads/main' && ")
    assert jobs["gitops"]["environment"]["name"] == "${{ inputs.environment }}"
    assert jobs["apply"]["environment"]["name"] == "${{ inputs.environment }}"
    tasks = [a[1] for a in _runs(jobs["apply"]) if a[0] == ".venv/bin/invoke"]
    assert tasks.index("tf.apply") < tasks.index("tf.kubeconfig") < tasks.index("helm.deploy")


def test_the_readme_commands_keep_working_unchanged() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/setup.sh && .venv/bin/nox" in ci


def test_setup_without_arguments_installs_every_part() -> None:
    text = (REPO / "scripts" / "setup.sh").read_text()
    assert 'selected="${PARTS[*]}"' in text
    assert Path(REPO / "scripts" / "setup.sh").stat().st_mode & 0o111


def test_gitops_environments_deploy_by_commit_and_the_others_by_helm() -> None:
    jobs = _load("deploy.yml")["jobs"]
    assert jobs["route"]["outputs"]["deploy"] == "${{ steps.route.outputs.deploy }}"
    assert jobs["plan"]["if"].endswith("needs.route.outputs.deploy == 'helm'")
    assert jobs["gitops"]["if"].endswith("needs.route.outputs.deploy == 'gitops'")
    assert "apply" not in jobs["gitops"]["needs"] and jobs["apply"]["needs"] == "plan"
    steps = jobs["gitops"]["steps"]
    committing = [s for s in steps if "invoke deploy" in s.get("run", "") or
                  "invoke promote" in s.get("run", "")]  # fmt: skip
    assert len(committing) == 4
    for step in committing:
        assert step["env"] == {"ENVIRONMENTS_TOKEN": "${{ secrets.ENVIRONMENTS_TOKEN }}"}
        pull_request = "--pull-request" in step["run"]
        assert (f"inputs.how == '{'pull-request' if pull_request else 'push'}'") in step["if"]
        assert "--key env://RELEASE_PUBLIC_KEY" in step["run"]
    promotes = [s["run"] for s in committing if "invoke promote" in s["run"]]
    assert all('--from "$FROM" --to "$ENVIRONMENT" --version "$VERSION" --yes' in r
               for r in promotes)  # fmt: skip
    assert jobs["gitops"]["env"]["FROM"] == "${{ inputs.promote_from }}"
