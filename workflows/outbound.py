"""The one guard every outbound call (workflows, LLM judges) goes through.

``check_url(url)`` resolves the host and refuses it, with a ``ValidationError`` that says why,
when any of its addresses is link-local or a cloud metadata endpoint (always), or loopback /
private (unless ``EVALSITE_ALLOW_LOOPBACK`` / ``EVALSITE_ALLOW_PRIVATE_NETWORKS`` allow it).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from workflows import conf

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
    }
)
ALLOWED_SCHEMES = ("http", "https")


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "is not a routable unicast address"
    if address.is_loopback:
        return None if conf.allow_loopback() else "is a loopback address (not allowed here)"
    if address.is_private:
        if conf.allow_private_networks():
            return None
        return "is a private-network address (not allowed here)"
    return None


def resolve(host: str, port: int | None) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ValidationError(f"Cannot resolve host {host!r}.") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_url(url: str) -> None:
    """Raise ``ValidationError`` unless ``url`` may be called from this server."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"Malformed URL: {exc}.") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValidationError("Only http:// and https:// URLs can be called.")
    host = parts.hostname
    if not host:
        raise ValidationError("The URL has no host.")
    for address in resolve(host, port):
        problem = _address_problem(address)
        if problem:
            raise ValidationError(f"Refusing to call {host}: {address} {problem}.")


def url_problem(url: str) -> str | None:
    """The guard's refusal as a message, or None when the URL may be called."""
    try:
        check_url(url)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None
