"""Settings, read once from JOBQL_* environment variables and validated."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.trusted import read_manifest

SQLITE_DEFAULT = "sqlite+aiosqlite:///jobql.db"
MIN_SECRET_LENGTH = 32
PREFIX = "JOBQL_"
ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)
PUBLIC_URL = re.compile(r"https?://[A-Za-z0-9.\[\]:-]+(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?")
# JOBQL_* variables read outside Settings: the explorer's asset folder, the tests' database.
OTHER_VARIABLES = frozenset({"JOBQL_EXPLORER_ASSETS", "JOBQL_TEST_POSTGRES_URL"})


class Settings(BaseSettings):
    """Every knob of a jobql process. Relative paths resolve against the working folder."""

    model_config = SettingsConfigDict(env_prefix="JOBQL_", frozen=True)

    database_url: str = SQLITE_DEFAULT
    blob_dir: Path = Path("blobs")
    # Signs attachment download links. Unset: a random key kept in `secret_file`, shared by
    # every worker on this host; set it explicitly when several hosts serve the same data.
    secret_key: SecretStr | None = None
    secret_file: Path = Path("jobql.secret")
    pool_size: int = Field(default=10, ge=1, le=200)
    # How long a process trusts an API key it has checked, without asking the database again.
    # A key deleted or a user locked meanwhile still gets in for at most this long; 0: never.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Time budgets nest (checked below): request > statement > pool wait, so the innermost one
    # that fails names the cause, and an overloaded pool answers 503 before the request dies.
    pool_timeout_seconds: float = Field(default=2.0, gt=0)
    statement_timeout_ms: int = Field(default=5000, ge=100)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)

    # Reads of jobs planned once into SQL (app/graphql/compiled.py); off: all field by field.
    compiled_queries: bool = True

    default_page_size: int = Field(default=25, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=10)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    tql_max_length: int = Field(default=4000, ge=1)
    tql_max_in_values: int = Field(default=500, ge=1)
    tql_max_depth: int = Field(default=32, ge=1)
    tql_max_terms: int = Field(default=200, ge=1)
    # POST /attachments: larger files are refused with 413 and leave nothing behind.
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    download_url_max_seconds: int = Field(default=24 * 3600, ge=1)
    # Hardening (issue 7; docs/http.md): hostile input is refused early and cheaply.
    max_node_budget: int = Field(default=25_000, ge=1)  # Σ over connections of Π first/last
    max_repeated_fields: int = Field(default=10, ge=1)  # one field selected again at one place
    max_errors: int = Field(default=50, ge=1)  # errors in one response; the rest are counted
    max_json_depth: int = Field(default=64, ge=2)  # nesting of variables and extensions
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)  # a request's head: 431 past it
    header_timeout_seconds: float = Field(default=10.0, gt=0)  # to receive a request's head
    request_timeout_seconds: float = Field(default=10.0, gt=0)  # body, auth and execution
    max_connections: int = Field(default=1000, ge=1)  # per process; 503 past it
    shutdown_grace_seconds: int = Field(default=15, ge=1)  # in-flight requests finish
    rate_limit_per_second: float = Field(default=100.0, ge=0)  # per API key; 0 turns it off
    rate_limit_burst: int = Field(default=500, ge=1)
    # Automatic persisted queries (app/persisted.py): documents kept per process, by sha256.
    persisted_queries_max: int = Field(default=1000, ge=1)
    # Trusted documents (app/trusted.py): a manifest's path; set, only its documents run.
    trusted_documents: Path | None = None
    # Requests refused for their API key (absent, wrong, revoked), per client address.
    refused_rate_per_second: float = Field(default=5.0, ge=0)  # 0 turns it off
    refused_rate_burst: int = Field(default=50, ge=1)

    # How often each server process looks for expired leases and jobs past their deadline
    # (app/services/sweeper.py): a dead worker's jobs return within lease + this.
    sweep_interval_seconds: float = Field(default=2.0, gt=0, le=300)
    # How often each server process writes its keys' `last_used_at` (app/auth.py KeyUsage).
    key_usage_flush_seconds: float = Field(default=60.0, gt=0, le=3600)

    # Live updates (docs/live.md). PostgreSQL: a NOTIFY wakes each process to read the log,
    # with a timer as the safety net; off (JOBQL_LIVE_NOTIFY=off, e.g. behind a pooler in
    # transaction mode): the log is polled. SQLite: the writing process wakes its readers,
    # other processes poll.
    live_notify: bool = True
    live_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    live_safety_seconds: float = Field(default=1.0, gt=0, le=60)
    live_batch_size: int = Field(default=500, ge=1, le=10_000)  # events per tail query
    live_queue_size: int = Field(default=256, ge=1)  # events held for one subscription
    live_replay_depth: int = Field(default=10_000, ge=1)  # past it: CURSOR_EXPIRED
    live_max_subscriptions_per_connection: int = Field(default=50, ge=1)
    live_max_subscriptions_per_key: int = Field(default=500, ge=1)  # per process
    live_init_timeout_seconds: float = Field(default=10.0, gt=0)  # to send connection_init
    live_keepalive_seconds: float = Field(default=15.0, gt=0)  # a ping this often
    # How often a live connection's key is checked again: revoked or locked, it is closed.
    live_auth_recheck_seconds: float = Field(default=2.0, gt=0, le=5)

    # Set by `jobql serve --demo`: the explorer opens with this key in its headers.
    demo_api_key: str | None = None

    # Operation (docs/operations.md). Logs: INFO to stderr, `text` for people or `json` lines.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics: with a token, `Authorization: Bearer <token>`; without, clients on this host only.
    metrics_token: SecretStr | None = None
    # Browser origins allowed to call the API from their pages (CORS), comma-separated;
    # empty: none (the explorer is same-origin and needs none).
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Links this server hands out (downloadUrl) start with this, e.g. https://jobql.example:
    # behind a proxy, a link then never depends on the Host header a request carries.
    public_url: str | None = None
    # Peers (IP addresses or networks, comma-separated; `*` for any) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed (uvicorn's default: this host); empty: nobody's.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1", "::1")

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], no path, or *"
                )
        return origins

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.rstrip("/")
        if not PUBLIC_URL.fullmatch(url):
            raise ValueError(f"{url!r} is not a base URL: http(s)://host[:port][/path], no query")
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network, nor *") from None
        return proxies

    @field_validator("metrics_token")
    @classmethod
    def _strong_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_SECRET_LENGTH // 2:
            raise ValueError(f"must have at least {MIN_SECRET_LENGTH // 2} characters")
        return token

    @field_validator("database_url")
    @classmethod
    def _absolute_sqlite_path(cls, url: str) -> str:
        """Resolve a relative SQLite path now, so workers and migrations agree on one file."""
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            path = url[len(prefix) :]
            if path and path != ":memory:":
                return prefix + str(Path(path).resolve())
        return url

    @field_validator("blob_dir", "secret_file")
    @classmethod
    def _absolute_path(cls, path: Path) -> Path:
        return path.resolve()

    @field_validator("trusted_documents", mode="before")
    @classmethod
    def _readable_manifest(cls, value: object) -> object:
        if value is None or value == "":  # JOBQL_TRUSTED_DOCUMENTS= turns the mode off
            return None
        if isinstance(value, str | Path):
            path = Path(value).resolve()
            read_manifest(path)  # its ValueError names what is wrong
            return path
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must have at least {MIN_SECRET_LENGTH} characters")
        return key

    @model_validator(mode="after")
    def _budgets_nest(self) -> Settings:
        request_ms = self.request_timeout_seconds * 1000
        if not request_ms > self.statement_timeout_ms > self.pool_timeout_seconds * 1000:
            raise ValueError(
                "time budgets must nest: JOBQL_REQUEST_TIMEOUT_SECONDS > "
                "JOBQL_STATEMENT_TIMEOUT_MS > JOBQL_POOL_TIMEOUT_SECONDS"
            )
        if self.shutdown_grace_seconds < self.request_timeout_seconds:
            raise ValueError(
                "JOBQL_SHUTDOWN_GRACE_SECONDS must be at least JOBQL_REQUEST_TIMEOUT_SECONDS, "
                "so that requests in flight at shutdown can finish"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def known_variables() -> frozenset[str]:
    return frozenset(PREFIX + name.upper() for name in Settings.model_fields) | OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each JOBQL_* variable no setting reads (a typo is otherwise silent)."""
    environ = os.environ if environ is None else environ
    known = known_variables()
    warnings = []
    for name in sorted(n for n in environ if n.upper().startswith(PREFIX)):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} ignored{hint}")
    return warnings


def describe(error: ValidationError) -> str:
    """A ValidationError of Settings as one line naming each variable at fault."""
    parts = []
    for item in error.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            name = PREFIX + str(item["loc"][0]).upper()
            given = item.get("input")
            secret = name.endswith(("_KEY", "_TOKEN"))  # never echoed
            shown = "" if secret else f" (got {given!r})"
            parts.append(f"{name}: {message}{shown}")
        else:
            parts.append(message)
    return "invalid settings: " + "; ".join(parts)
