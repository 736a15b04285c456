"""Which addresses an outbound call may reach.

``address_problem(ip)`` is the one policy: it is applied to every address a connection is
actually made to (``evalsite.outbound.transport``), and, for a friendly form error, to the
addresses a URL resolves to when a workflow or judge is saved (``check_url``).

Always refused: cloud metadata endpoints, link-local, unspecified, multicast, broadcast,
documentation, benchmarking, reserved and other IANA special-purpose ranges (IPv4 and IPv6),
Teredo and other tunnels. IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:0:0/96``,
IPv4-compatible ``::/96``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the
embedded address. Loopback (127.0.0.0/8, ``::1``) is refused unless
``EVALSITE_ALLOW_LOOPBACK`` (any port) or the port is in ``EVALSITE_ALLOW_LOOPBACK_PORTS``
(``scripts/run`` lists this server's own port: the bundled demo agent); private ranges
(RFC 1918, CGNAT 100.64.0.0/10, unique-local ``fc00::/7``, site-local ``fec0::/10``) unless
``EVALSITE_ALLOW_PRIVATE_NETWORKS``.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6 metadata
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)

_net = ipaddress.ip_network
LOOPBACK = (_net("127.0.0.0/8"), _net("::1/128"))
PRIVATE = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT (RFC 6598)
    _net("fc00::/7"),  # unique local
    _net("fec0::/10"),  # site local (deprecated)
)
LINK_LOCAL = (_net("169.254.0.0/16"), _net("fe80::/10"))
# Everything else in the IANA special-purpose registries that is not globally reachable.
SPECIAL = (
    _net("0.0.0.0/8"),
    _net("192.0.0.0/24"),
    _net("192.0.2.0/24"),
    _net("192.88.99.0/24"),  # 6to4 relay anycast
    _net("198.18.0.0/15"),
    _net("198.51.100.0/24"),
    _net("203.0.113.0/24"),
    _net("224.0.0.0/4"),
    _net("240.0.0.0/4"),  # includes 255.255.255.255
    _net("::/128"),
    _net("64:ff9b:1::/48"),  # local-use NAT64
    _net("100::/64"),  # discard-only
    _net("2001::/23"),  # IETF protocol assignments, Teredo 2001::/32, ORCHID
    _net("2001:db8::/32"),
    _net("3fff::/20"),  # documentation
    _net("5f00::/16"),  # SRv6 SIDs
    _net("ff00::/8"),
)
NAT64 = _net("64:ff9b::/96")
IPV4_COMPATIBLE = _net("::/96")


def allow_loopback() -> bool:
    return bool(getattr(settings, "EVALSITE_ALLOW_LOOPBACK", False))


def allowed_loopback_ports() -> list[int]:
    return getattr(settings, "EVALSITE_ALLOW_LOOPBACK_PORTS", None) or []


def allow_private_networks() -> bool:
    return bool(getattr(settings, "EVALSITE_ALLOW_PRIVATE_NETWORKS", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _in(address: IPAddress, networks) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def address_problem(address: IPAddress | str, port: int | None = None) -> str | None:
    """Why ``address`` (on ``port``, when known) may not be connected to, or None."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded, port)
            return f"embeds {embedded}, which {problem}" if problem else None
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if _in(address, LINK_LOCAL):
        return "is a link-local address"
    if _in(address, LOOPBACK):
        if allow_loopback() or (port is not None and port in allowed_loopback_ports()):
            return None
        return (
            "is a loopback address (set EVALSITE_ALLOW_LOOPBACK, or list the port in "
            "EVALSITE_ALLOW_LOOPBACK_PORTS, to allow it)"
        )
    if _in(address, PRIVATE):
        if allow_private_networks():
            return None
        return "is a private-network address (set EVALSITE_ALLOW_PRIVATE_NETWORKS to allow it)"
    if _in(address, SPECIAL) or not address.is_global:
        return "is a special-purpose address"
    return None


def resolve(host: str, port: int | None) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ValidationError(f"Cannot resolve host {host!r}.") from exc
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL (the scheme's port when none is given);
    ``ValidationError`` for anything else."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"Malformed URL: {exc}.") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValidationError("Only http:// and https:// URLs can be called.")
    if not parts.hostname:
        raise ValidationError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Put credentials in a header or an API key, not in the URL.")
    return parts.hostname, port if port is not None else DEFAULT_PORTS[parts.scheme]


def check_url(url: str, *, resolve_host: bool = True) -> None:
    """Raise ``ValidationError`` unless ``url`` may be called from this server.

    A save-time courtesy: the binding check happens on every connection."""
    host, port = split_url(url)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve_host:
            return
        addresses = resolve(host, port)
    for address in addresses:
        problem = address_problem(address, port)
        if problem:
            raise ValidationError(f"Refusing to call {host}: {address} {problem}.")


def url_problem(url: str, *, resolve_host: bool = True) -> str | None:
    """The guard's refusal as a message, or None when the URL may be called."""
    try:
        check_url(url, resolve_host=resolve_host)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None
