"""Deploy the release (terraform, then a GitOps commit, helm or the compose pilot); health."""

from __future__ import annotations

from pathlib import Path

from releasekit.core.artifact import IMAGES_FILE
from releasekit.core.errors import ReleaseError
from releasekit.deploy import (
    cluster,
    git_http,
    gitops,
    gitops_env,
    helm_partial,
    kube_env,
    pilot,
    pilot_pins,
    rollout,
)
from releasekit.deploy import helm as helm_deploy
from releasekit.deploy import terraform as infra
from releasekit.publish import third_party
from releasekit.publish.trust import trust_of
from releasekit.release import kept
from releasekit.release.context import Context
from releasekit.release.steps.base import Step, environment

__all__ = ["Deploy", "Health"]


def chart_versions(ctx: Context) -> dict[str, str]:
    """Policy independent: chart -> the chart version it runs at (published now, else last)."""
    released = {str(e["package"]): str(e["new"]) for e in ctx.plan}
    return kept.chart_versions(ctx.ws, ctx.dest.git_remote, released)


def app_versions(ctx: Context) -> dict[str, str]:
    """Policy independent: chart -> its appVersion (its package's: released, else last)."""
    released = {str(e["package"]): str(e["new"]) for e in ctx.plan}
    return kept.app_versions(ctx.ws, ctx.dest.git_remote, released)


class Deploy(Step):
    """Infrastructure first, then the charts or the compose pilot that run on it."""

    name = "deploy"
    summary = "deploy"
    writes = ("deployed",)

    def __init__(self, env: str) -> None:
        self.summary = f"deploy to {env}"

    def skip(self, ctx: Context) -> str | None:
        env = environment(ctx)
        return (
            None
            if any(env.get(k) for k in ("terraform", "deploy", "helm", "compose"))
            else ("nothing to deploy")
        )

    def run(self, ctx: Context) -> str:
        env, ws, new, target = environment(ctx), ctx.ws, ctx.version, ctx.dest
        done: list[str] = []
        if env.get("terraform"):
            tf_env = str(env["terraform"])
            module = infra.module_dir(ws.root, tf_env)
            images_json = Path("dist") / new / IMAGES_FILE
            var_files = (infra.images_var_file(ws.root, tf_env, images_json),)
            saved, _ = infra.plan_paths(tf_env)
            infra.plan(module, tf_env, ws.root, saved, var_files)
            infra.apply(module, tf_env, ws.root, saved)
            done.append(f"terraform {tf_env}")
        if env.get("deploy"):
            done.append(self._gitops(ctx))
        elif env.get("helm"):
            third_party.require(third_party.pins_of(ws.root, new, target), target)
            kenv = kube_env.resolve(ws.root, ctx.opts.env)
            if kenv.local_root is not None:
                cluster.up(kenv.local_root)
            if ctx.plan:
                upgrades = helm_partial.plan_charts(
                    ws.root, kenv, new, chart_versions(ctx), target.chart_registry,
                    target.registry,
                )  # fmt: skip
            else:
                upgrades = helm_deploy.plan(
                    ws.root, kenv, new, target.chart_registry, target.registry
                )
            trust = trust_of(ws.root, target)
            outcomes = helm_deploy.deploy(ws.root, kenv, upgrades, say=ctx.progress, trust=trust)
            done.append(
                f"helm {kenv.name}: "
                + ", ".join(
                    f"{o.release} {o.status}{f' ({o.detail})' if o.detail else ''}"
                    for o in outcomes
                )
            )
        if env.get("compose"):
            trust = trust_of(ws.root, target)
            deployment = pilot.deploy(ws.root, new, target.registry, trust=trust, say=ctx.say)
            answers = f" (control panel {deployment.app_version})" if deployment.app_version else ""
            done.append(f"pilot {deployment.version}{answers}")
        ctx.deployed = done
        return ", ".join(done)

    def _gitops(self, ctx: Context) -> str:
        """Commit the desired state of the environment, push it, wait until Flux runs it."""
        target, root = ctx.dest, ctx.ws.root
        genv = gitops_env.resolve(root, ctx.opts.env)
        third_party.require(third_party.pins_of(root, ctx.version, target), target)
        if genv.local_root is not None:
            cluster.up(genv.local_root)
        if genv.sandbox:
            git_http.up(root)
        trust = trust_of(root, target)
        desired = gitops.plan(root, ctx.version, target.chart_registry, target.registry,
                              trust.access, chart_versions(ctx) if ctx.plan else None)  # fmt: skip
        applied = gitops.release(root, genv, desired, trust, ctx.say)
        if not isinstance(applied, gitops.Applied):
            raise AssertionError("a release without pull_request converges or raises")
        ready = ", ".join(r.name for r in applied.observed.releases)
        return f"gitops {genv.name}: {applied.commit[:12]} applied by Flux, {ready} Ready"


class Health(Step):
    """The deployed services answer /health with the released version."""

    name = "health"
    summary = "health checks"
    writes = ("health",)

    def skip(self, ctx: Context) -> str | None:
        env = environment(ctx)
        return None if env.get("helm") or env.get("compose") else "no pilot in this environment"

    def run(self, ctx: Context) -> str:
        env = environment(ctx)
        if env.get("helm"):
            kenv = kube_env.resolve(ctx.root, ctx.opts.env)
            if env.get("deploy"):
                genv = gitops_env.resolve(ctx.root, ctx.opts.env)
                kenv = kube_env.KubeEnv(genv.name, genv.values, genv.namespace, genv.kube,
                                        genv.local_root)  # fmt: skip
            expected = app_versions(ctx) if ctx.plan else ctx.version
            releases = rollout.check(ctx.root, kenv, expected)
            problems = [p for r in releases for p in r.problems]
            if problems:
                raise ReleaseError(
                    f"{kenv.describe()} is unhealthy after the deploy: {'; '.join(problems)}"
                )
            rolled = sum(len(r.workloads) for r in releases)
            if not env.get("compose"):
                return f"{rolled} workloads of {len(releases)} releases rolled out"
        expected = pilot_pins.app_version(ctx.root, ctx.version)
        verdict = pilot.health(ctx.root, expected)
        if not verdict.ok:
            raise ReleaseError(f"The pilot is unhealthy after the deploy: {verdict.detail}")
        ctx.health = verdict.url
        return f"{verdict.url} answers {expected}"
