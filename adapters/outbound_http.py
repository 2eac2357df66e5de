"""HTTP to URLs that users choose (workflow `http_request` nodes, webhook deliveries), guarded
against server-side request forgery.

Before each hop the host is resolved, and the request is refused unless every address it
resolves to is public: loopback, private, link-local (cloud metadata at 169.254.169.254),
carrier-grade NAT, multicast, reserved and unspecified addresses are refused, IPv4-mapped IPv6
included. The connection then goes to the address that was checked (the TLS handshake still
verifies the certificate for the host name), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot redirect it. Redirects are followed by hand, each hop
checked again; a hop to another origin (scheme, host or port) carries none of the caller's
headers but the few that hold no secret (SAFE_ACROSS_ORIGINS): a node's or tool's headers are
often credentials of any name (`X-Api-Key`...). `OUTBOUND_ALLOWLIST` names hosts
(`api.internal`, `*.corp.example`) or networks (`10.1.0.0/16`, `127.0.0.1`) that may be reached
anyway.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from entities.outbound import HostNotResolved, HttpResponse, OutboundFailed, OutboundRefused
from use_cases.shared.ports import OutboundHttp

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
SAFE_ACROSS_ORIGINS = {"user-agent", "accept", "accept-language", "content-type"}
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")}
CHUNK = 64 * 1024


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotResolved(f"The host {host} does not resolve (no address in DNS); check "
                              "its name") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return (address.is_global and not address.is_multicast and not address.is_reserved
            and address not in METADATA_ADDRESSES)


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an absolute http(s) URL, the port defaulted by the scheme."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "", "", None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


class AddressPolicy:
    def __init__(self, allowlist: Iterable[str] = ()):
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        self.suffixes: list[str] = []
        for entry in (item.strip().lower() for item in allowlist):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry.startswith("*."):
                    self.suffixes.append(entry[1:])
                else:
                    self.hosts.add(entry.rstrip("."))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes)

    def address_allowed(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in network for network in self.networks)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as written in the URL (for Host and TLS)
    port: int
    address: str  # the checked address the connection goes to
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class GuardedHttpClient(OutboundHttp):
    def __init__(self, allowlist: Iterable[str] = (), resolver: Resolver = system_resolver,
                 max_redirects: int = MAX_REDIRECTS, user_agent: str = "SynapScale/1.0"):
        self.policy = AddressPolicy(allowlist)
        self.resolver = resolver
        self.max_redirects = max_redirects
        self.user_agent = user_agent

    @classmethod
    def from_settings(cls, settings) -> GuardedHttpClient:
        return cls(settings.outbound_allowlist)

    def check_url(self, url: str) -> None:
        """The rules each delivery hop obeys, checked now: OutboundRefused for a URL that may
        not be called, HostNotResolved when its host has no address."""
        self._target(url)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: bytes | None = None, timeout_s: float = 10.0,
                max_bytes: int = 1024 * 1024) -> HttpResponse:
        deadline = time.monotonic() + timeout_s
        headers = {"User-Agent": self.user_agent, **(headers or {})}
        for _hop in range(self.max_redirects + 1):
            target = self._target(url)
            response = self._send(target, method, headers, body, deadline)
            try:
                location = response.headers.get("Location")
                if response.status not in REDIRECT_STATUSES or not location:
                    data = self._read(response, max_bytes, deadline)
                    return HttpResponse(response.status, _headers(response), data, url)
            finally:
                response.release_conn()
            next_url = urljoin(url, location)
            if _origin(next_url) != (target.scheme, target.host.lower(), target.port):
                headers = {k: v for k, v in headers.items() if k.lower() in SAFE_ACROSS_ORIGINS}
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            url = next_url
        raise OutboundFailed(f"more than {self.max_redirects} redirects")

    def _target(self, url: str) -> _Target:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise OutboundRefused("The URL is malformed") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused("Only absolute http:// and https:// URLs can be called")
        if parts.username or parts.password:
            raise OutboundRefused("Credentials in the URL are not supported; send a header")
        host = parts.hostname
        port = port or (443 if parts.scheme == "https" else 80)
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return _Target(parts.scheme, host, port, self.checked_address(host, port), path)

    def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for `host`: it is resolved now, and OutboundRefused is raised
        unless every address it resolves to may be reached (HostNotResolved when it has none).
        Connecting to the returned address, not to the name again, is what keeps a DNS answer
        that changes after the check (DNS rebinding) from redirecting the connection."""
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
        if not addresses:
            raise HostNotResolved(f"The host {host} does not resolve (no address in DNS); check "
                                  "its name")
        if not self.policy.host_allowed(host):
            refused = [a for a in addresses if not self.policy.address_allowed(a)]
            if refused:
                where = host if host == str(refused[0]) else f"{host} resolves to {refused[0]}, which"
                raise OutboundRefused(
                    f"{where} is a private, loopback, link-local or reserved address; "
                    "ask an administrator to allow-list it")
        return str(addresses[0])

    def _send(self, target: _Target, method: str, headers: dict[str, str], body: bytes | None,
              deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundFailed("timed out")
        timeout = urllib3.Timeout(connect=remaining, read=remaining)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address, target.port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED")
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout,
                                              retries=False, maxsize=1)
        try:
            return pool.urlopen(method, target.path, body=body,
                                headers={**headers, "Host": target.host_header}, redirect=False,
                                preload_content=False, assert_same_host=False, retries=False)
        except Urllib3Timeout:
            raise OutboundFailed(f"{target.host} did not answer in time") from None
        except (Urllib3Error, OSError) as error:
            raise OutboundFailed(f"request to {target.host} failed: {type(error).__name__}") from None

    @staticmethod
    def _read(response, max_bytes: int, deadline: float) -> bytes:
        chunks, size = [], 0
        try:
            for chunk in response.stream(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise OutboundFailed(f"the response is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise OutboundFailed("timed out while reading the response")
                chunks.append(chunk)
        except Urllib3Timeout:
            raise OutboundFailed("timed out while reading the response") from None
        except (Urllib3Error, OSError) as error:
            raise OutboundFailed(f"reading the response failed: {type(error).__name__}") from None
        return b"".join(chunks)


def _headers(response) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
