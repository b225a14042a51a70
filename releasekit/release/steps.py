"""The steps of `invoke release`, in order, each recording what it produced.

Every step reads the shared context (``ws``, ``opts``, ``root``, ``target`` and what
earlier steps returned) and returns the outputs the state file keeps. Steps that publish
ask the destination first, so repeating one after a crash publishes nothing twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from releasekit.build import checksums
from releasekit.build import runner as builds
from releasekit.core import changelog, git, version
from releasekit.core.errors import ReleaseError
from releasekit.core.files import file_sha256
from releasekit.core.workspace import Workspace
from releasekit.deploy import cluster, kube_env, pilot, rollout
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import terraform as infra
from releasekit.publish import attestations, charts, supply_chain, targets
from releasekit.publish import index as python_upload
from releasekit.publish.registry import push_images
from releasekit.publish.verify import raise_on_failure, verify_release
from releasekit.release import preflight as checks
from releasekit.release.plan import (
    Options,
    check_tag,
    dist_dir,
    next_version,
    release_message,
)
from releasekit.release.state import Step, fault_point, write_json

__all__ = ["describe", "steps"]


def _ws(ctx: dict[str, Any]) -> Workspace:
    return ctx["ws"]  # type: ignore[no-any-return]


def _opts(ctx: dict[str, Any]) -> Options:
    return ctx["opts"]  # type: ignore[no-any-return]


def _target(ctx: dict[str, Any]) -> targets.Target:
    return ctx["target"]  # type: ignore[no-any-return]


def _environment(ctx: dict[str, Any]) -> dict[str, Any]:
    """The deploy environment of release.toml named by --env (empty for `none`)."""
    return checks.environment(_ws(ctx), _opts(ctx).env)


def preflight(ctx: dict[str, Any]) -> dict[str, Any]:
    """Clean tree, branch, remote, tools, target and its credentials, versions, environment."""
    ws, opts, state = _ws(ctx), _opts(ctx), ctx.get("resume_state")
    if state is not None:
        checks.restore_interrupted_prepare(ws, state.done("prepare"))
    current, ctx["target"] = checks.check(
        ws, opts.target, opts.env, readonly=False, releasing=ctx.get("releasing", "")
    )
    outputs = {"summary": f"ready: {current} everywhere, target {opts.target}"}
    if "current" not in ctx:  # resumed: keep the version the release started from
        outputs["current"] = current
    return outputs


def preflight_readonly(ctx: dict[str, Any]) -> None:
    """The preflight checks of a dry run: nothing started, nothing written, nothing asked."""
    opts = _opts(ctx)
    current, ctx["target"] = checks.check(_ws(ctx), opts.target, opts.env, readonly=True)
    ctx.setdefault("current", current)


def choose_version(ctx: dict[str, Any]) -> dict[str, Any]:
    """The next version from the flags or the conventional commits since the last tag."""
    ws, opts = _ws(ctx), _opts(ctx)
    new, last, how = next_version(ws, opts, ctx["current"])
    target = _target(ctx)
    remote: str | None = target.git_remote
    if target.kind == "sandbox" and not Path(target.git_remote).exists():
        remote = None  # a dry run before the sandbox's first start: no remote yet
    check_tag(ws.root, f"v{new}", remote)
    notes = changelog.render(ws, new, changelog.collect(ws.root, last))
    return {"version": new, "since": last, "how": how, "notes": notes, "summary": f"{new} ({how})"}


def prepare(ctx: dict[str, Any]) -> dict[str, Any]:
    """Write the version to every site, prepend the notes to the changelog, commit."""
    ws, new = _ws(ctx), ctx["version"]
    message = release_message(new)
    if git.commit_subject(ws.root) == message:
        commit = git.head(ws.root)
        return {"commit": commit, "files": [], "summary": f"already committed {commit[:7]}"}
    bumps = version.plan_bump(ws, to=new)
    written = version.apply(ws, bumps)
    notes_file = ws.root / ws.manifest.changelog
    old = notes_file.read_text(encoding="utf-8") if notes_file.exists() else "# Changelog\n"
    head, _, rest = old.partition("\n")
    notes_file.write_text(f"{head}\n\n{ctx['notes'].rstrip()}\n{rest}", encoding="utf-8")
    paths = [str(p.relative_to(ws.root)) for p in [*written, notes_file]]
    fault_point("prepare:written")
    git.add(ws.root, paths)
    fault_point("prepare:added")
    git.commit(ws.root, message)
    commit = git.head(ws.root)
    return {"commit": commit, "files": paths, "summary": f"{len(paths)} files, {commit[:7]}"}


def _check_head(ctx: dict[str, Any]) -> None:
    head = git.head(_ws(ctx).root)
    if head != ctx["commit"]:
        raise ReleaseError(
            f"HEAD is {head[:12]} but this release committed {ctx['commit'][:12]}: the branch "
            "moved during the release. Check it out again (`git checkout "
            f"{ctx['commit'][:12]}`) and run `invoke release --resume`."
        )


def build(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every artifact (cached by its inputs), SHA256SUMS included."""
    _check_head(ctx)
    built = builds.build(_ws(ctx), progress=ctx.get("progress"))
    fresh = sum(1 for o in built.outcomes if o.status == "built")
    return {
        "artifacts": {
            o.key: [str(p.relative_to(_ws(ctx).root)) for p in o.outputs] for o in built.outcomes
        },
        "summary": f"{len(built.outcomes)} artifacts, {fresh} built",
    }


def verify(ctx: dict[str, Any]) -> dict[str, Any]:
    """SHA256SUMS holds, charts lint strictly (wheels and images were smoke-tested in build)."""
    folder = dist_dir(_ws(ctx).root, ctx["version"])
    sums = checksums.parse(folder / checksums.FILENAME)
    bad = [name for name, digest in sums.items() if file_sha256(folder / name) != digest]
    if bad:
        raise ReleaseError(f"{folder / checksums.FILENAME} does not match: {', '.join(bad)}.")
    charts.lint(_ws(ctx).root)
    return {"summary": f"{len(sums)} checksums, charts lint clean"}


def _python_files(ctx: dict[str, Any]) -> list[Path]:
    folder = dist_dir(_ws(ctx).root, ctx["version"]) / "python"
    return sorted(p for p in folder.iterdir() if p.suffix in {".whl", ".gz"})


def publish_python(ctx: dict[str, Any]) -> dict[str, Any]:
    """Upload every sdist and wheel the index does not hold yet."""
    target = _target(ctx)
    dists = _python_files(ctx)
    attestations.attest(dists)  # PEP 740, only where the job has an OIDC identity
    results = python_upload.upload(
        dists,
        target.pypi_url,
        index_url=target.pypi_index,
        auth=(target.pypi_username, target.pypi_password),
    )
    files = {r.path.name: {"status": r.status, "sha256": r.sha256} for r in results}
    new = sum(1 for r in results if r.status != "skipped")
    return {"python": files, "summary": f"{new} uploaded, {len(results) - new} already there"}


def publish_images(ctx: dict[str, Any]) -> dict[str, Any]:
    """Push every tag of every image; digests recorded in images.json."""
    target = _target(ctx)
    auth = None
    if target.registry_username:
        auth = {"username": target.registry_username, "password": target.registry_password}
    ws = _ws(ctx)
    released = {*git.released_versions(ws.root), *git.remote_versions(ws.root, target.git_remote)}
    results = push_images(
        ws,
        ctx["version"],
        target.registry,
        auth=auth,
        progress=ctx.get("progress"),
        released=sorted(released),
    )
    images = {
        r.name: {"digest": r.digest, "repository": r.repository, "tags": list(r.tags)}
        for r in results
    }
    return {"images": images, "summary": f"{len(images)} images"}


def publish_charts(ctx: dict[str, Any]) -> dict[str, Any]:
    """Package every chart at the release version and push it to the chart registry."""
    target = _target(ctx)
    archives = charts.package(_ws(ctx).root, ctx["version"])
    pushed = {}
    for archive in archives:
        result = charts.push(archive, target.chart_registry)
        pushed[archive.name] = {
            "ref": result.ref,
            "status": result.action,
            "sha256": file_sha256(archive),
        }
    return {"charts": pushed, "summary": f"{len(pushed)} charts"}


def sign(ctx: dict[str, Any]) -> dict[str, Any]:
    """Sign images and charts by digest, attest image SBOMs, write the signed provenance."""
    ws, opts, target = _ws(ctx), _opts(ctx), _target(ctx)
    if not supply_chain.signs(target):
        return {"summary": f"not signed: [targets.{target.name}] names no signing_key_env"}
    started = min(
        (str(s["finished_at"]) for s in ctx.get("state_steps", {}).values() if "finished_at" in s),
        default=None,
    )
    signed, _ = supply_chain.sign_published(
        ws.root,
        ctx["version"],
        target,
        ctx,
        {"part": opts.part, "to": opts.to, "env": opts.env, "target": opts.target},
        started,
        say=ctx.get("progress") or (lambda _line: None),
    )
    return {
        "charts": signed.charts,
        "signed": list(signed.actions),
        "provenance": str(signed.provenance.relative_to(ws.root)),
        "summary": f"{len(signed.actions) - 1} artifacts signed, {signed.provenance.name}",
    }


def verify_published(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every artifact at its destination: digest, signature, SBOM attestation, provenance."""
    ws, new, target = _ws(ctx), ctx["version"], _target(ctx)
    folder = dist_dir(ws.root, new)
    files = {rel: file_sha256(folder / rel) for rel in checksums.release_files(folder)}
    record = supply_chain.Record.from_data({**ctx, "version": new}, files)
    public = (
        supply_chain.release_key(ws.root, target).public if supply_chain.signs(target) else None
    )
    rows = verify_release(record, folder, public, supply_chain.access(target), target.pypi_index)
    raise_on_failure(rows, new)
    return {"summary": f"{len(rows)} artifacts verified at their destinations"}


def tag(ctx: dict[str, Any]) -> dict[str, Any]:
    """Tag the release commit; push the branch and the tag in one atomic push.

    From here on the version is spoken for: every later step only publishes what this
    commit built, and a failure is finished by running the release again.
    """
    ws, new, remote = _ws(ctx), ctx["version"], _target(ctx).git_remote
    name = f"v{new}"
    _check_head(ctx)
    check_tag(ws.root, name, remote)
    if git.tag_commit(ws.root, name) is None:
        git.create_tag(ws.root, name, f"Release {new}")
    if git.remote_tag_commit(ws.root, remote, name) == ctx["commit"]:
        return {"tag": name, "remote": remote, "summary": f"{name} already on {remote}"}
    fault_point("tag:pushing")
    git.push_atomic(ws.root, remote, ctx["commit"], ws.manifest.branch, name)
    return {"tag": name, "remote": remote, "summary": f"{name} -> {remote}"}


def deploy(ctx: dict[str, Any]) -> dict[str, Any]:
    """Infrastructure first, then the charts or the compose pilot that run on it."""
    env, ws, new, target = _environment(ctx), _ws(ctx), ctx["version"], _target(ctx)
    done: list[str] = []
    images_json = Path("dist") / new / "images.json"
    if env.get("terraform"):
        tf_env = str(env["terraform"])
        module = infra.module_dir(ws.root, tf_env)
        var_files = (infra.images_var_file(ws.root, tf_env, images_json),)
        saved, _ = infra.plan_paths(tf_env)
        infra.plan(module, tf_env, ws.root, saved, var_files)
        infra.apply(module, tf_env, ws.root, saved)
        done.append(f"terraform {tf_env}")
    if env.get("helm"):
        kenv = kube_env.resolve(ws.root, _opts(ctx).env)
        if kenv.local_root is not None:
            cluster.up(kenv.local_root)
        upgrades = helm_deploy.plan(ws.root, kenv, new, target.chart_registry, target.registry)
        outcomes = helm_deploy.deploy(ws.root, kenv, upgrades)
        done.append(f"helm {kenv.name}: " + ", ".join(f"{o.release} {o.status}" for o in outcomes))
    if env.get("compose"):
        deployment = pilot.deploy(ws.root, new, target.registry)
        done.append(f"pilot {deployment.version}")
    return {"deployed": done, "summary": ", ".join(done) or "nothing to deploy"}


def health(ctx: dict[str, Any]) -> dict[str, Any]:
    """The deployed services answer /health with the released version."""
    env = _environment(ctx)
    if env.get("helm"):
        kenv = kube_env.resolve(_ws(ctx).root, _opts(ctx).env)
        releases = rollout.check(_ws(ctx).root, kenv, ctx["version"])
        problems = [p for r in releases for p in r.problems]
        if problems:
            raise ReleaseError(
                f"{kenv.describe()} is unhealthy after the deploy: {'; '.join(problems)}"
            )
        rolled = sum(len(r.workloads) for r in releases)
        if not env.get("compose"):
            return {"summary": f"{rolled} workloads of {len(releases)} releases rolled out"}
    if not env.get("compose"):
        return {"summary": "no pilot in this environment"}
    verdict = pilot.health(_ws(ctx).root, ctx["version"])
    if not verdict.ok:
        raise ReleaseError(f"The pilot is unhealthy after the deploy: {verdict.detail}")
    return {"health": verdict.url, "summary": f"{verdict.url} answers {ctx['version']}"}


def report(ctx: dict[str, Any]) -> dict[str, Any]:
    """dist/<version>/release.json and RELEASE_NOTES.md, then SHA256SUMS again."""
    ws, new = _ws(ctx), ctx["version"]
    folder = dist_dir(ws.root, new)
    (folder / "RELEASE_NOTES.md").write_text(ctx["notes"], encoding="utf-8")
    checksums.write(folder)
    state_steps = ctx.get("state_steps", {})
    data = {
        "version": new,
        "commit": ctx["commit"],
        "tag": ctx.get("tag"),
        "how": ctx.get("how"),
        "destinations": _target(ctx).describe(),
        "python": ctx.get("python", {}),
        "images": ctx.get("images", {}),
        "charts": ctx.get("charts", {}),
        "deployed": ctx.get("deployed", []),
        "artifacts": {
            name: digest for name, digest in checksums.parse(folder / checksums.FILENAME).items()
        },
        "steps": {name: step.get("seconds") for name, step in state_steps.items()},
    }
    write_json(folder / "release.json", data)
    return {
        "report": str((folder / "release.json").relative_to(ws.root)),
        "summary": f"dist/{new}/release.json",
    }


def steps(ws: Workspace, opts: Options) -> list[Step]:
    """The release, in order."""
    return [
        Step("preflight", "clean tree, branch, tools, target, versions", preflight, always=True),
        Step("version", "choose the next version", choose_version),
        Step("prepare", "version sites, changelog, release commit", prepare),
        Step("build", "sdists, wheels, binary, site, images (cached by inputs)", build),
        Step("verify", "checksums and chart lint", verify),
        Step("tag", "tag the release commit; push it and the tag atomically", tag),
        Step("publish-python", "upload sdists and wheels", publish_python),
        Step("publish-images", "push every image tag", publish_images),
        Step("publish-charts", "package and push the charts", publish_charts),
        Step("sign", "sign images and charts, attest SBOMs, signed provenance", sign),
        Step(
            "verify-published",
            "digest, signature, provenance at each destination",
            verify_published,
        ),
        Step("deploy", f"deploy to {opts.env}", deploy),
        Step("health", "health checks", health),
        Step("report", "release.json and notes", report),
    ]


def describe(ctx: dict[str, Any]) -> list[str]:
    """The plan in words, for --dry-run: artifacts, destinations, tags and commands."""
    ws, new, target = _ws(ctx), ctx["version"], _target(ctx)
    lines = [f"version {ctx['current']} -> {new} ({ctx['how']})"]
    lines += [
        f"write {f.site.file.relative_to(ws.root)}:{f.line} ({f.site.kind})"
        for f in version.read(ws)
    ]
    lines.append(f"$ git commit -m '{release_message(new)}'")
    lines += ["build: sdists, wheels, binary, site, images, SBOMs, SHA256SUMS (cached by inputs)"]
    lines.append(
        f"$ git tag -a v{new} && git push --atomic {target.git_remote} "
        f"HEAD:refs/heads/{ws.manifest.branch} refs/tags/v{new}"
    )
    for pkg in ws.packages:
        for kind in pkg.spec.artifacts:
            if kind in {"sdist", "wheel"}:
                lines.append(f"{kind} {pkg.spec.dist} {new} -> {target.pypi_url}")
            elif kind == "binary":
                lines.append(f"binary dist/{new}/bin/ironcage-{new}-linux-x86_64 -> release assets")
            elif kind == "site":
                lines.append(f"site tarball dist/{new}/site/ -> release assets")
        for image in pkg.spec.images:
            lines.append(f"image {target.registry}/{image}: {', '.join(_tags(ws, new))}")
    for chart in charts.find_charts(ws.root):
        lines.append(f"chart {chart.name} {new} -> {target.chart_registry}")
    prov = f"dist/{new}/provenance.intoto.jsonl"
    lines.append(f"$ cosign sign every image and chart by digest, attest SBOMs; sign {prov}")
    lines.append("verify every artifact at its destination: digest, signature, provenance")
    env = _environment(ctx) if _opts(ctx).env != "none" else {}
    if env.get("terraform"):
        lines.append(f"$ terraform plan/apply environment {env['terraform']}")
    if env.get("helm"):
        kenv = kube_env.resolve(ws.root, _opts(ctx).env)
        for up in helm_deploy.plan(ws.root, kenv, new, target.chart_registry, target.registry):
            lines.append("$ " + " ".join(up.argv))
    if env.get("compose"):
        lines.append(f"$ compose up: pilot at {new} from {target.registry}, then health checks")
    lines.append(f"report dist/{new}/release.json, RELEASE_NOTES.md, SHA256SUMS")
    return lines


def _tags(ws: Workspace, new: str) -> list[str]:
    from releasekit.build.images import tags_for

    return [
        t if not t.startswith("sha-") else "sha-<release commit>" for t in tags_for(new, "0000000")
    ]
