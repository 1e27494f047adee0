"""What synthetic jobs are made of: Cortex-like analyzers, observables, files, users."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from app.auth import Role

# (name, data types, taxonomy namespace, taxonomy predicate), as Cortex-Analyzers names them.
# The first five cover every data type: each organization enables them, plus its own.
ANALYZERS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("Abuse_Finder_3_0", ("ip", "domain", "fqdn", "url", "mail"), "Abuse_Finder", "Address"),
    (
        "VirusTotal_GetReport_3_1",
        ("file", "hash", "domain", "fqdn", "ip", "url"),
        "VT",
        "GetReport",
    ),
    ("MaxMind_GeoIP_4_0", ("ip",), "MaxMind", "Location"),
    ("FileInfo_8_0", ("file",), "FileInfo", "Type"),
    ("EmailRep_1_0", ("mail",), "EmailRep", "Reputation"),
    ("Shodan_Host_1_0", ("ip",), "Shodan", "Ports"),
    ("Urlscan_io_Search_0_1_1", ("ip", "domain", "hash", "fqdn", "url"), "urlscan.io", "Search"),
    ("DomainTools_Reputation_2_0", ("domain", "fqdn"), "DT", "Reputation"),
    ("EmlParser_2_1", ("file",), "EmlParser", "Attachments"),
    ("AbuseIPDB_1_0", ("ip",), "AbuseIPDB", "Records"),
    ("CIRCLPassiveDNS_2_0", ("domain", "url", "ip"), "CIRCL", "PassiveDNS"),
    ("CIRCLPassiveSSL_2_0", ("ip", "hash"), "CIRCL", "PassiveSSL"),
    ("Cyberprotect_ThreatScore_3_0", ("domain", "ip"), "Cyberprotect", "ThreatScore"),
    ("DShield_lookup_1_0", ("ip",), "DShield", "Score"),
    ("FireHOLBlocklists_2_0", ("ip",), "FireHOL", "Blocklists"),
    ("GoogleSafebrowsing_2_0", ("url", "domain"), "Google", "Safebrowsing"),
    ("GreyNoise_3_1", ("ip",), "GreyNoise", "Classification"),
    ("HybridAnalysis_GetReport_1_0", ("hash", "file"), "HybridAnalysis", "ThreatLevel"),
    ("IPinfo_Details_1_0", ("ip",), "IPinfo", "ASN"),
    ("Malpedia_1_0", ("file",), "Malpedia", "Yara"),
    ("MalwareBazaar_1_0", ("hash",), "MalwareBazaar", "Signature"),
    ("MISP_2_1", ("domain", "ip", "url", "fqdn", "hash", "mail", "file"), "MISP", "Search"),
    ("OTXQuery_2_0", ("url", "domain", "file", "hash", "ip"), "OTX", "Pulses"),
    ("PassiveTotal_Enrichment_2_0", ("domain", "ip"), "PT", "Enrichment"),
    ("PhishTank_CheckURL_2_1", ("url",), "PhishTank", "Check"),
    ("Pulsedive_GetIndicator_1_0", ("ip", "domain", "url", "hash"), "Pulsedive", "Risk"),
    ("Robtex_IP_Query_1_0", ("ip",), "Robtex", "IPQuery"),
    ("Robtex_Forward_PDNS_Query_1_0", ("domain", "fqdn"), "Robtex", "FPDNS"),
    ("SecurityTrails_Passive_DNS_1_0", ("domain",), "SecurityTrails", "PassiveDNS"),
    ("SpamhausDBL_1_0", ("domain", "fqdn"), "Spamhaus", "DBL"),
    ("StopForumSpam_1_0", ("ip", "mail"), "SFS", "Appears"),
    ("ThreatMiner_1_0", ("domain", "ip", "hash"), "ThreatMiner", "Reports"),
    ("TorBlutmagie_1_0", ("ip", "domain", "fqdn"), "Tor", "ExitNode"),
    ("TorProject_1_0", ("ip",), "TorProject", "Node"),
    ("URLhaus_2_0", ("domain", "url", "hash"), "URLhaus", "Threat"),
    ("Umbrella_Report_1_0", ("domain",), "Umbrella", "Investigate"),
    ("Virusshare_2_0", ("hash", "file"), "VirusShare", "Search"),
    ("Yara_2_0", ("file",), "Yara", "Match"),
    ("Yeti_1_0", ("domain", "fqdn", "ip", "url", "hash"), "Yeti", "Search"),
    ("Censys_1_0", ("ip",), "Censys", "Hosts"),
)


@dataclass(frozen=True)
class OrgSpec:
    id: str
    name: str
    share: int  # percent of the jobs
    analyzers: tuple[int, ...]  # indexes into ANALYZERS


# 26 + 14 + 10 = 50 analyzers over the three organizations.
ORGANIZATIONS = (
    OrgSpec("synth-a", "Synthetic SOC A", 60, tuple(range(0, 26))),
    OrgSpec("synth-b", "Synthetic CERT B", 25, (*range(0, 5), *range(26, 35))),
    OrgSpec("synth-c", "Synthetic MSSP C", 15, (*range(0, 5), *range(35, 40))),
)
# login prefix -> roles; every organization gets one user of each, `<prefix>@<org>`.
USERS: dict[str, tuple[Role, ...]] = {
    "reader": (Role.READ,),
    "analyst": (Role.READ, Role.ANALYZE),
    "admin": (Role.READ, Role.ANALYZE, Role.ORGADMIN),
}
SUBMITTERS = ("analyst", "admin")

# Jobs still queued or running are the newest, as in a live system: the newest 1 % of the jobs
# (at least 50) follow the demo's weights, WAITING and IN_PROGRESS included; older ones are
# finished, SUCCESS at 70 % and the rest in the demo's proportions.
# The demo's distribution, WAITING and IN_PROGRESS included.
DEMO_STATUS_WEIGHTS = {
    "SUCCESS": 60,
    "FAILURE": 12,
    "TIMEOUT": 4,
    "CANCELLED": 6,
    "IN_PROGRESS": 6,
    "WAITING": 6,
    "DELETED": 6,
}
RECENT_STATUS_WEIGHTS = DEMO_STATUS_WEIGHTS
STATUS_WEIGHTS = {"SUCCESS": 140, "FAILURE": 28, "TIMEOUT": 8, "CANCELLED": 12, "DELETED": 12}
DATA_TYPE_WEIGHTS = {
    "ip": 30,
    "domain": 17,
    "url": 14,
    "hash": 12,
    "fqdn": 9,
    "mail": 8,
    "file": 10,
}
LEVELS = ("INFO", "SAFE", "SUSPICIOUS", "MALICIOUS")
LEVEL_WEIGHTS = (30, 35, 20, 15)
_LEVEL_CUMULATIVE = list(accumulate(LEVEL_WEIGHTS))


def taxonomy(rng: random.Random, namespace: str, predicate: str) -> dict[str, str]:
    """A verdict as an analyzer would write it, levels in their usual proportions."""
    level = rng.choices(LEVELS, cum_weights=_LEVEL_CUMULATIVE)[0]
    value = {
        "INFO": "no result",
        "SAFE": "0/70",
        "SUSPICIOUS": "3/70",
        "MALICIOUS": f"{rng.randint(12, 64)}/70",
    }[level]
    return {"level": level, "namespace": namespace, "predicate": predicate, "value": value}


FAILURES = (
    "Invalid API key",
    "Connection to the service timed out after 30s",
    "Rate limit exceeded: 4 requests per minute",
    "Unsupported data type for this analyzer",
    "HTTP 502 from upstream: Bad Gateway",
)
TIMEOUT_MESSAGE = "Timeout: the analyzer ran more than 30 minutes"
MESSAGES = ("", "", "", "Auto-run by playbook Phishing-triage", "Re-run after API key rotation")
PARAMETERS = ("{}", "{}", '{"maxAge": 30}', '{"force": true}')
FILES = ("invoice", "payload", "report", "scan", "update", "resume", "order", "statement")
FILE_KINDS = (
    (".exe", "application/x-msdownload"),
    (".docm", "application/vnd.ms-word.document.macroEnabled.12"),
    (".pdf", "application/pdf"),
    (".eml", "message/rfc822"),
    (".zip", "application/zip"),
)
BLOB_COUNT = 32

_WORDS = ("secure", "login", "update", "mail", "cdn", "portal", "account", "verify", "pay", "cloud")
_BRANDS = ("contoso", "fabrikam", "northwind", "globex", "initech", "hooli", "tailspin", "litware")
_TLDS = (".com", ".net", ".org", ".io", ".ru", ".xyz", ".info", ".top")
_HOSTS = ("www", "mail", "vpn", "ns1", "smtp", "dev", "cdn", "api")
_PATHS = ("login.php", "invoice/2026/", "wp-admin/", "download?id=", "static/js/app.js")
_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


def observables(size: int = 2000) -> dict[str, list[str]]:
    """Pools of realistic values per data type; the same pools on every run."""
    rng = random.Random("jobql-synthetic-observables")
    domains = [f"{rng.choice(_WORDS)}-{rng.choice(_BRANDS)}{rng.choice(_TLDS)}" for _ in range(400)]

    def ip() -> str:
        return ".".join(str(rng.randint(a, b)) for a, b in ((1, 223), (0, 255), (0, 255), (1, 254)))

    def url() -> str:
        path = rng.choice(_PATHS)
        suffix = str(rng.randint(1000, 99999)) if path.endswith("=") else ""
        return f"https://{rng.choice(domains)}/{path}{suffix}"

    makers: dict[str, Callable[[], str]] = {
        "ip": ip,
        "domain": lambda: rng.choice(domains),
        "fqdn": lambda: f"{rng.choice(_HOSTS)}.{rng.choice(domains)}",
        "url": url,
        "hash": lambda: f"{rng.getrandbits(256):064x}",
        "mail": lambda: f"{rng.choice(_NAMES)}.{rng.randint(1, 99)}@{rng.choice(domains)}",
    }
    return {kind: [make() for _ in range(size)] for kind, make in makers.items()}


def blob_contents() -> list[tuple[str, str, bytes]]:
    """A small pool of files: (name, content type, bytes), the same on every run."""
    rng = random.Random("jobql-synthetic-blobs")
    found = []
    for i in range(BLOB_COUNT):
        suffix, content_type = FILE_KINDS[i % len(FILE_KINDS)]
        name = f"{FILES[i % len(FILES)]}_{i:02d}{suffix}"
        body = f"jobql synthetic sample {i}\n".encode() + rng.randbytes(200 + 37 * i)
        found.append((name, content_type, body))
    return found
