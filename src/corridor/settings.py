"""Every setting Corridor reads, each a ``CORRIDOR_*`` environment variable.

This module is the one place settings are defined; ``docs/settings.md`` lists them with their defaults and
is checked against this class by a test, so the two cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORRIDOR_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./var"), description="Where the SQLite file, devnode data and keys live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; default: a SQLite file `corridor.db` under the data dir.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    http_port: int = Field(default=8000, description="Port the HTTP API listens on.")
    bitcoin_rpc_url: str | None = Field(
        default=None,
        description="Bitcoin Core JSON-RPC URL (http://user:pass@host:port); default: start the embedded devnode.",
    )
    devnode_rpc_port: int = Field(
        default=18443, description="RPC port of the embedded devnode started by `up`."
    )
    worker_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Pause between the worker's rounds (chain, payouts, settlement, webhooks), in `up` or `worker`.",
    )
    profile: str = Field(default="RU-EPR-2024", description="Jurisdiction profile id.")
    profile_dir: Path | None = Field(default=None, description="Extra folder of jurisdiction profile files.")
    kek_file: Path | None = Field(
        default=None,
        description="File holding the key-encryption key for private keys at rest; default: `kek.hex` in the data dir.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")
    max_body_bytes: int = Field(
        default=1_048_576, description="Largest request body the API accepts, in bytes."
    )
    idempotency_lock_seconds: int = Field(
        default=60,
        description="How long an unfinished request holds its Idempotency-Key before a retry may run it again.",
    )
    api_key_cache_seconds: int = Field(
        default=30,
        description="How long a verified API key is trusted without re-checking its argon2 hash (revocation delay).",
    )
    operator_name: str = Field(
        default="Corridor demo operator", description="Operator name printed on statements."
    )
    operator_licence: str = Field(
        default="EPR admission (not set)",
        description="Operator licence or admission reference on statements.",
    )
    invoice_wallet: str = Field(
        default="receive", description="Custody wallet whose fresh addresses invoices and deposits get."
    )
    payout_wallet: str = Field(default="hot", description="Custody wallet that pays payment orders.")
    market_sources: str = Field(
        default="recorded",
        description="Market BTC price sources in failover order (comma list; see `corridor.rates.sources.market`).",
    )
    market_max_age_seconds: int = Field(
        default=300, description="Oldest market price a quote may lock, in seconds."
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, description="Seconds a webhook receiver has to answer one attempt."
    )
    webhook_max_attempts: int = Field(
        default=12,
        description="Attempts per webhook delivery (10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 12 h apart) before it is marked failed.",
    )
    webhook_batch_size: int = Field(default=100, description="Webhook deliveries claimed per sending round.")
    webhook_concurrency: int = Field(
        default=8, description="Webhook requests in flight at once per sending round."
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private and link-local addresses (development only).",
    )
    webhook_key_file: Path | None = Field(
        default=None,
        description="Key sealing webhook signing secrets at rest; default `webhook-key.hex` in the data dir, created on first use.",
    )
    ledger_pending_timeout_seconds: int = Field(
        default=86_400, description="Default timeout of a two-phase (pending) ledger transfer."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'corridor.db').resolve()}"

    def resolved_kek_file(self) -> Path:
        return self.kek_file if self.kek_file is not None else self.data_dir / "kek.hex"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
