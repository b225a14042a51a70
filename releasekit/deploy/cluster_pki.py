"""Certificates and kubeconfigs of the local cluster, made once with openssl.

A throwaway CA signs the API server's serving certificate and one client certificate per
identity (``admin`` in ``system:masters``, the controller manager, the scheduler). The
service-account key pair signs and checks service-account tokens. Everything lives in
``.sandbox/cluster/pki`` (keys 0600); kubeconfigs embed the certificates, so a copy of one
works anywhere on this machine.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from releasekit.core.files import write_text
from releasekit.core.run import require_tool, run

__all__ = ["IDENTITIES", "SERVER_SANS", "Pki", "ensure", "write_kubeconfig"]

SERVER_SANS = (
    "IP:127.0.0.1",
    "IP:10.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)
# name -> subject of its client certificate
IDENTITIES: dict[str, str] = {
    "admin": "/O=system:masters/CN=releasekit-admin",
    "controller-manager": "/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
}
_DAYS = "3650"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = releasekit
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {",".join(SERVER_SANS)}
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""


@dataclass(frozen=True)
class Pki:
    """Where each certificate and key of the cluster is."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.dir / "apiserver.crt", self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client(self, identity: str) -> tuple[Path, Path]:
        return self.dir / f"{identity}.crt", self.dir / f"{identity}.key"


def _openssl(*args: str) -> None:
    run(["openssl", *args], quiet=True)


def _sign(pki: Pki, config: Path, section: str, subject: str, cert: Path, key: Path) -> None:
    _openssl(
        "req", "-x509", "-config", str(config), "-extensions", section,
        "-CA", str(pki.ca), "-CAkey", str(pki.ca_key), *_EC,
        "-keyout", str(key), "-out", str(cert), "-days", _DAYS, "-subj", subject,
    )  # fmt: skip
    os.chmod(key, 0o600)


def ensure(folder: Path) -> Pki:
    """The cluster's PKI in ``folder``; whatever is missing is made, the rest kept."""
    require_tool("openssl", "Install it with `apt-get install openssl` (scripts/setup.sh).")
    pki = Pki(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    config = folder / "openssl.cnf"
    config.write_text(_CONFIG, encoding="utf-8")
    if not pki.ca.is_file() or not pki.ca_key.is_file():
        _openssl(
            "req", "-x509", "-config", str(config), "-extensions", "ca", *_EC,
            "-keyout", str(pki.ca_key), "-out", str(pki.ca), "-days", _DAYS,
            "-subj", "/CN=releasekit-local-cluster-ca",
        )  # fmt: skip
        os.chmod(pki.ca_key, 0o600)
        for stale in folder.glob("*.crt"):
            if stale != pki.ca:
                stale.unlink()
    cert, key = pki.server
    if not cert.is_file():
        _sign(pki, config, "server", "/CN=kube-apiserver", cert, key)
    for identity, subject in IDENTITIES.items():
        cert, key = pki.client(identity)
        if not cert.is_file():
            _sign(pki, config, "client", subject, cert, key)
    if not pki.sa_key.is_file() or not pki.sa_pub.is_file():
        _openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", str(pki.sa_key),
        )  # fmt: skip
        os.chmod(pki.sa_key, 0o600)
        _openssl("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(pki: Pki, identity: str, server: str, path: Path, name: str) -> Path:
    """A kubeconfig for ``identity`` at ``server`` with context (and cluster) ``name``."""
    import yaml

    cert, key = pki.client(identity)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca)},
            }
        ],
        "users": [
            {
                "name": f"{name}-{identity}",
                "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-{identity}"}}],
        "current-context": name,
        "preferences": {},
    }
    write_text(path, yaml.safe_dump(config, sort_keys=False), mode=0o600)
    return path
