"""``ironcage-site`` command line (also ``python -m ironcage_marketing_site``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ironcage_marketing_site import __version__
from ironcage_marketing_site.builder import DEFAULT_BASE_URL, ContentError, build
from ironcage_marketing_site.tarball import make_tarball

BASE_URL_ENV = "SITE_BASE_URL"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcage-site", description="Build the IronCage marketing site."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build_cmd = commands.add_parser("build", help="render the site into a directory")
    build_cmd.add_argument("--out", required=True, type=Path, help="output directory")
    build_cmd.add_argument(
        "--version",
        dest="site_version",
        default=None,
        help=f"version shown in the page footers (default: {__version__})",
    )
    build_cmd.add_argument(
        "--tarball", type=Path, default=None, help="also write a reproducible .tar.gz of the site"
    )
    build_cmd.add_argument(
        "--base-url",
        default=None,
        help=f"absolute site URL for sitemap.xml (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base_url = args.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        site = build(args.out, args.site_version, base_url=base_url)
        print(site)
        if args.tarball is not None:
            print(make_tarball(site, args.tarball))
    except (ContentError, OSError, ValueError) as exc:
        print(f"ironcage-site: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
