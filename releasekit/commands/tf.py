"""Tasks of `tf`: fmt, validate, plan, apply a saved plan, outputs, drift, kubeconfig."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from releasekit.commands._common import console, emit_json, find_root, reported

__all__ = ["ns"]

_ENV = "Root module under terraform/environments/ (local, dev, staging, prod)."


@task(help={"fix": "Rewrite the files instead of only reporting them."})
def fmt(c: Context, fix: bool = False) -> None:
    """terraform fmt -check over terraform/ (--fix rewrites)."""
    from releasekit.deploy import terraform as infra

    with reported():
        files = infra.fmt(find_root(), fix)
        if fix:
            console.print(f"[green]formatted[/] {len(files)} files" if files else "nothing to do")
            return
        if files:
            for name in files:
                console.print(f"[red]not formatted[/] {name}")
            raise Exit("error: run `invoke tf.fmt --fix` to format them.", code=1)
        console.print("[green]ok[/] every terraform file is formatted")


@task
def validate(c: Context) -> None:
    """terraform validate where no provider download is needed; static checks on all."""
    from releasekit.deploy import terraform as infra

    with reported():
        result = infra.validate(find_root())
        for env in result.validated:
            console.print(f"[green]validated[/] {env} (terraform validate)")
        for env in result.static_only:
            console.print(
                f"[yellow]static checks only[/] {env}: its providers must be downloaded from "
                "the Terraform registry"
            )
        for finding in result.findings:
            console.print(f"[red]finding[/] {finding}", markup=False)
        if result.findings:
            raise Exit(f"error: {len(result.findings)} findings.", code=1)
        console.print(
            "[green]ok[/] no finding (typed and described variables, pinned "
            "providers, no literal secrets)"
        )


@task(
    help={
        "env": _ENV,
        "images": "images.json whose digests become var.image_digests "
        "(dist/<version>/images.json).",
        "summary": "Also append the plan as Markdown to this file (e.g. $GITHUB_STEP_SUMMARY).",
    }
)
def plan(c: Context, env: str, images: str | None = None, summary: str | None = None) -> None:
    """init, then plan -out build/terraform/ENV.tfplan with a fingerprint beside it."""
    from releasekit.deploy import terraform as infra

    with reported():
        root = find_root()
        module = infra.module_dir(root, env)
        var_files = (infra.images_var_file(root, env, Path(images)),) if images else ()
        saved, _ = infra.plan_paths(env)
        made = infra.plan(module, env, root, saved, var_files)
        print(made.text.rstrip())
        what = "changes to apply" if made.changes else "no changes"
        if summary:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(
                    f"### terraform plan of `{env}`: {what}\n\n```text\n"
                    f"{made.text.rstrip()}\n```\n\n"
                )
        console.print(
            f"[green]saved[/] {saved} ({what}); apply it with `invoke tf.apply --env {env}`"
        )


@task(help={"env": _ENV})
def apply(c: Context, env: str) -> None:
    """Apply exactly the saved plan of ENV; refuses a missing or stale plan."""
    from releasekit.deploy import terraform as infra

    with reported():
        root = find_root()
        module = infra.module_dir(root, env)
        saved, _ = infra.plan_paths(env)
        print(infra.apply(module, env, root, saved))
        console.print(f"[green]applied[/] {saved}")


@task(
    help={
        "env": _ENV,
        "region": "AWS region of the cluster (default: AWS_REGION or AWS_DEFAULT_REGION).",
    }
)
def kubeconfig(c: Context, env: str, region: str = "") -> None:
    """Write the kubeconfig of ENV's EKS cluster (aws eks update-kubeconfig; current context)."""
    from releasekit.deploy import eks
    from releasekit.deploy import terraform as infra

    with reported():
        root = find_root()
        name = eks.write_kubeconfig(infra.module_dir(root, env), env, root, eks.region(region))
        console.print(f"[green]kubeconfig[/] written for cluster {name}")


@task(help={"env": _ENV})
def output(c: Context, env: str) -> None:
    """Print the outputs of ENV as JSON (terraform output -json)."""
    from releasekit.deploy import terraform as infra

    with reported():
        root = find_root()
        emit_json(infra.output(infra.module_dir(root, env), root))


@task(help={"env": _ENV, "images": "images.json the environment was planned with (see tf.plan)."})
def drift(c: Context, env: str, images: str | None = None) -> None:
    """Compare ENV with its configuration (plan -detailed-exitcode); exit 2 when drifted."""
    from releasekit.deploy import terraform as infra

    with reported():
        root = find_root()
        var_files = (infra.images_var_file(root, env, Path(images)),) if images else ()
        found = infra.drift(infra.module_dir(root, env), env, root, var_files)
        if not found.in_sync:
            raise Exit(f"{env}: {found}", code=2)
        console.print(f"[green]{env}[/]: {found}")


ns = Collection("tf", fmt, validate, plan, apply, output, drift, kubeconfig)
