"""Where webhooks may go: https to public addresses only (no server-side request forgery).

A subscription's URL is checked when subscribing (``check_target``: a 422 naming ``url``) and
again at every delivery after DNS resolution (``resolve_target``), since a name may later
resolve elsewhere: every address it resolves to must be public (not loopback, private,
link-local, multicast, unspecified, reserved or shared), else nothing is sent. The delivery then
connects to the very address that was checked (``adapters.webhooks.dispatch.http_post``), so a
second lookup cannot swap in another one.

Two settings relax it (for a receiver on the operator's own network, and for tests):
``DOSELEDGER_WEBHOOK_ALLOW_HTTP=1`` accepts ``http`` URLs, and
``DOSELEDGER_WEBHOOK_ALLOWED_HOSTS`` (comma-separated ``host`` or ``host:port``) lists hosts
whose addresses are not checked. Both are read from the environment when used.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from domain.errors import InvalidInput

ALLOW_HTTP_VAR = "DOSELEDGER_WEBHOOK_ALLOW_HTTP"
ALLOWED_HOSTS_VAR = "DOSELEDGER_WEBHOOK_ALLOWED_HOSTS"
_TRUE = ("1", "true", "yes", "on")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """A webhook target that must not be contacted (the message says why; never shown to the
    subscriber at delivery)."""


@dataclass(frozen=True)
class TargetPolicy:
    """Whether plain http is accepted, and the hosts exempt from the address checks."""

    allow_http: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TargetPolicy:
        """The policy the environment (default: this process's) sets."""
        env = os.environ if env is None else env
        hosts = (env.get(ALLOWED_HOSTS_VAR) or "").split(",")
        return cls(
            allow_http=(env.get(ALLOW_HTTP_VAR) or "").strip().lower() in _TRUE,
            allowed_hosts=frozenset(h.strip().lower() for h in hosts if h.strip()),
        )

    def allows_host(self, host: str, port: int) -> bool:
        """True when ``host`` (any port) or ``host:port`` is listed."""
        host = host.lower()
        named = f"[{host}]" if ":" in host else host
        return bool(self.allowed_hosts & {host, named, f"{named}:{port}"})


def is_public(address: Address) -> bool:
    """A globally routable unicast address (an IPv4-mapped IPv6 address is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _host_port(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    return host, parts.port or (443 if scheme == "https" else 80), scheme


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (in the resolver's order, each once)."""
    found: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = _literal(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


def check_target(url: str, policy: TargetPolicy | None = None) -> str:
    """At subscription: refuse a URL that is not https, or whose host is or resolves to a
    non-public address (a name that does not resolve yet is accepted: delivery checks again)."""
    policy = policy or TargetPolicy.from_env()
    host, port, scheme = _host_port(url)
    if scheme != "https" and not policy.allow_http:
        raise InvalidInput(f"url must be https (http only when {ALLOW_HTTP_VAR}=1)", field="url")
    if policy.allows_host(host, port):
        return url
    literal = _literal(host)
    if literal is not None:
        if not is_public(literal):
            raise InvalidInput(
                f"url host {host} is not a public address (loopback, private, link-local, "
                "multicast, unspecified and reserved addresses are refused)",
                field="url",
            )
        return url
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise InvalidInput(f"url host {host} is this machine", field="url")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return url
    if any(not is_public(a) for a in addresses):
        raise InvalidInput(
            f"url host {host} resolves to a non-public address (loopback, private, link-local, "
            "multicast, unspecified and reserved addresses are refused)",
            field="url",
        )
    return url


def resolve_target(url: str, policy: TargetPolicy | None = None) -> list[Address]:
    """At delivery: the addresses to connect to, or TargetRefused (a non-https URL without the
    setting, a name that does not resolve, or any resolved address that is not public)."""
    policy = policy or TargetPolicy.from_env()
    host, port, scheme = _host_port(url)
    if scheme != "https" and not policy.allow_http:
        raise TargetRefused(f"{scheme} is refused without {ALLOW_HTTP_VAR}=1")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefused(f"{host} resolves to no address")
    if not policy.allows_host(host, port):
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise TargetRefused(f"{host} resolves to non-public {', '.join(refused)}")
    return addresses
