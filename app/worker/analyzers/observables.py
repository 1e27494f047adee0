"""Observable_Classifier: what an ip, domain, fqdn, url or mail observable is, offline."""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.worker.analyzers.report import (
    AnalyzerInputError,
    Artifact,
    Level,
    Observable,
    Report,
    Taxonomy,
)

NAMESPACE = "Classifier"
DATA_TYPES = ("ip", "domain", "fqdn", "url", "mail")
# Top-level domains set aside for tests, documentation and local names (RFC 2606, RFC 6761,
# RFC 6762, RFC 7686): nothing on the internet answers for them.
SPECIAL_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "onion", "arpa"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Carrier-grade NAT (RFC 6598): not "private" to the ipaddress module before 3.13, never global.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def analyze(observable: Observable) -> Report:
    run = _BY_TYPE.get(observable.data_type)
    if run is None:
        raise AnalyzerInputError(f"Observable_Classifier does not take {observable.data_type}")
    if not observable.data or not observable.data.strip():
        raise AnalyzerInputError(f"an empty {observable.data_type}")
    return run(observable.data.strip())


# --- ip ---------------------------------------------------------------------------------------


def address_class(address: IPAddress) -> str:
    """One class per address, the most specific first (a loopback address is also reserved…)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"IPv4-mapped ({address_class(address.ipv4_mapped)})"
    checks: tuple[tuple[str, bool], ...] = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("documentation", any(address in net for net in _DOCUMENTATION)),
        ("shared (carrier-grade NAT)", address in _SHARED),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("global", address.is_global),
    )
    return next((name for name, holds in checks if holds), "special-purpose")


def classify_ip(text: str) -> Report:
    try:
        address = ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        raise AnalyzerInputError(f"not an IP address: {text!r}") from None
    kind = address_class(address)
    full: dict[str, Any] = {
        "address": address.compressed,
        "exploded": address.exploded,
        "version": address.version,
        "class": kind,
        "private": address.is_private,
        "global": address.is_global,
        "loopback": address.is_loopback,
        "linkLocal": address.is_link_local,
        "multicast": address.is_multicast,
        "reserved": address.is_reserved,
        "unspecified": address.is_unspecified,
        "reversePointer": address.reverse_pointer,
    }
    artifacts = []
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        full["ipv4Mapped"] = str(address.ipv4_mapped)
        artifacts.append(Artifact("ip", str(address.ipv4_mapped), "the IPv4 address it maps"))
    label = f"IPv{address.version} {kind}"
    return Report([Taxonomy(Level.INFO, NAMESPACE, "IP", label)], full, artifacts)


# --- domain, fqdn -----------------------------------------------------------------------------


def idna_forms(name: str) -> tuple[str, str]:
    """(ASCII, Unicode) forms of a host name, through Python's `idna` codec (IDNA 2003)."""
    name = name.removesuffix(".")
    try:
        ascii_form = name.encode("idna").decode("ascii").lower()
        unicode_form = ascii_form.encode("ascii").decode("idna")
    except UnicodeError as error:
        raise AnalyzerInputError(f"not a valid host name: {name!r} ({error})") from None
    return ascii_form, unicode_form


def scripts(label: str) -> set[str]:
    """The scripts of a label's letters ("LATIN", "CYRILLIC"…), from their Unicode names."""
    return {unicodedata.name(char, "UNKNOWN").split(" ")[0] for char in label if char.isalpha()}


def classify_domain(text: str, data_type: str = "domain") -> Report:
    ascii_form, unicode_form = idna_forms(text)
    labels = ascii_form.split(".")
    problems = _label_problems(labels)
    if problems:
        raise AnalyzerInputError(f"not a valid {data_type}: {text!r}: {problems[0]}")
    tld = labels[-1]
    idn = any(label.startswith("xn--") for label in labels)
    mixed = sorted(
        {
            label: "+".join(sorted(found))
            for label in unicode_form.split(".")
            if len(found := scripts(label)) > 1
        }.items()
    )
    full: dict[str, Any] = {
        "name": ascii_form,
        "unicode": unicode_form,
        "idn": idn,
        "labels": labels,
        "depth": len(labels),
        "tld": tld,
        "specialUse": tld in SPECIAL_TLDS,
        "mixedScripts": dict(mixed),
    }
    predicate = "Domain" if data_type == "domain" else "FQDN"
    taxonomies = [Taxonomy(Level.INFO, NAMESPACE, predicate, f"{len(labels)} labels, TLD .{tld}")]
    if idn:
        taxonomies.append(Taxonomy(Level.INFO, NAMESPACE, "IDN", unicode_form))
    if tld in SPECIAL_TLDS:
        taxonomies.append(Taxonomy(Level.INFO, NAMESPACE, "SpecialUse", f".{tld}"))
    for label, names in mixed:
        # Letters of two scripts in one label is how homograph look-alikes are made
        # ("pаypal" with a Cyrillic а).
        taxonomies.append(Taxonomy(Level.SUSPICIOUS, NAMESPACE, "Homograph", f"{label}: {names}"))
    return Report(taxonomies, full)


def _label_problems(labels: list[str]) -> list[str]:
    found = []
    if len(".".join(labels)) > 253:
        found.append("longer than 253 characters")
    for label in labels:
        if not 1 <= len(label) <= 63:
            found.append(f"label {label!r} must have 1 to 63 characters")
        elif label.startswith("-") or label.endswith("-"):
            found.append(f"label {label!r} starts or ends with a hyphen")
        elif not all(c.isalnum() and c.isascii() or c in "-_" for c in label):
            found.append(f"label {label!r} has characters other than letters, digits, - and _")
    return found


# --- url, mail --------------------------------------------------------------------------------


def host_artifact(host: str, message: str) -> Artifact:
    """The host a URL or an address names: an ip artifact for a literal, else a domain."""
    try:
        return Artifact("ip", ipaddress.ip_address(host.strip("[]")).compressed, message)
    except ValueError:
        return Artifact("domain", idna_forms(host)[0], message)


def classify_url(text: str) -> Report:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise AnalyzerInputError(f"not a valid URL: {text!r} ({error})") from None
    if not parts.scheme or not parts.hostname:
        raise AnalyzerInputError(f"not an absolute URL with a host: {text!r}")
    host = host_artifact(parts.hostname, "the host of the URL")
    if host.data_type == "domain":
        classify_domain(host.data)  # a malformed host name fails the job here
    full: dict[str, Any] = {
        "scheme": parts.scheme.lower(),
        "host": host.data,
        "hostType": host.data_type,
        "port": port,
        "path": parts.path,
        "query": [list(pair) for pair in parse_qsl(parts.query, keep_blank_values=True)],
        "fragment": parts.fragment,
        "username": parts.username,
        "hasPassword": parts.password is not None,  # the password itself is not repeated
    }
    taxonomies = [Taxonomy(Level.INFO, NAMESPACE, "URL", f"{full['scheme']} on {host.data}")]
    if parts.username is not None:
        # "https://bank.example@evil.example/" reads as bank.example but goes to evil.example.
        taxonomies.append(Taxonomy(Level.SUSPICIOUS, NAMESPACE, "Userinfo", host.data))
    if host.data_type == "ip":
        taxonomies.append(Taxonomy(Level.INFO, NAMESPACE, "IPHost", host.data))
    return Report(taxonomies, full, [host])


def classify_mail(text: str) -> Report:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise AnalyzerInputError(f"not a mail address: {text!r}")
    if len(local) > 64:
        raise AnalyzerInputError(f"the local part of {text!r} is longer than 64 characters")
    host = host_artifact(domain.removeprefix("[").removesuffix("]"), "the domain of the address")
    if host.data_type == "domain":
        classify_domain(host.data)
    tag = local.split("+", 1)[1] if "+" in local else None
    full = {"localPart": local, "domain": host.data, "domainType": host.data_type, "tag": tag}
    taxonomies = [Taxonomy(Level.INFO, NAMESPACE, "Mail", f"at {host.data}")]
    return Report(taxonomies, full, [host])


_BY_TYPE: dict[str, Callable[[str], Report]] = {
    "ip": classify_ip,
    "domain": classify_domain,
    "fqdn": lambda text: classify_domain(text, "fqdn"),
    "url": classify_url,
    "mail": classify_mail,
}
