"""Settings: environment parsing, and refusing unsafe production configurations."""

from __future__ import annotations

import os

import pytest

from townsquare.config import (
    DEVELOPMENT_SECRET_KEY,
    Environment,
    Settings,
    UnsafeProductionSettings,
)

GOOD_SECRET = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("TOWNSQUARE_") and not name.startswith("TOWNSQUARE_TEST_"):
            monkeypatch.delenv(name)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_development_defaults_are_accepted() -> None:
    settings = _settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.secret_key == DEVELOPMENT_SECRET_KEY
    assert settings.is_sqlite


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(UnsafeProductionSettings) as caught:
        _settings(env="production")
    message = str(caught.value)
    assert "TOWNSQUARE_SECRET_KEY" in message
    assert "TOWNSQUARE_DEBUG" not in message


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(UnsafeProductionSettings, match="at least 32 characters"):
        _settings(env="production", secret_key="k" * 31)


def test_production_refuses_debug() -> None:
    with pytest.raises(UnsafeProductionSettings) as caught:
        _settings(env="production", secret_key=GOOD_SECRET, debug=True)
    message = str(caught.value)
    assert "TOWNSQUARE_DEBUG" in message
    assert "TOWNSQUARE_SECRET_KEY" not in message


def test_production_lists_every_problem_at_once() -> None:
    with pytest.raises(UnsafeProductionSettings) as caught:
        _settings(env="production", debug=True)
    assert "TOWNSQUARE_SECRET_KEY" in str(caught.value)
    assert "TOWNSQUARE_DEBUG" in str(caught.value)


def test_safe_production_settings_are_accepted() -> None:
    settings = _settings(env="production", secret_key=GOOD_SECRET, debug=False)
    assert settings.env is Environment.PRODUCTION


def test_production_is_refused_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_ENV", "production")
    with pytest.raises(UnsafeProductionSettings, match="TOWNSQUARE_SECRET_KEY"):
        _settings()
    monkeypatch.setenv("TOWNSQUARE_SECRET_KEY", GOOD_SECRET)
    assert _settings().env is Environment.PRODUCTION


def test_list_settings_parse_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_CORS_ORIGINS", "https://app.example, https://admin.example,")
    monkeypatch.setenv("TOWNSQUARE_RESERVED_USERNAMES", "root,boss")
    settings = _settings()
    assert settings.cors_origins == ["https://app.example", "https://admin.example"]
    assert settings.reserved_usernames == ["root", "boss"]


def test_scalar_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_URL", "postgresql+asyncpg://db/townsquare")
    monkeypatch.setenv("TOWNSQUARE_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("TOWNSQUARE_RATE_LIMIT_ENABLED", "false")
    settings = _settings()
    assert not settings.is_sqlite
    assert settings.max_body_bytes == 2048
    assert settings.rate_limit_enabled is False
    assert _settings().cors_origins == []


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_MAX_BODY_BYTES", "10")
    with pytest.raises(ValueError, match="max_body_bytes"):
        _settings()


def test_trusted_proxies_and_metrics_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = _settings()
    assert defaults.trusted_proxies == []
    assert defaults.metrics_allowed_ips == []
    assert defaults.metrics_token is None
    monkeypatch.setenv("TOWNSQUARE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    monkeypatch.setenv("TOWNSQUARE_METRICS_ALLOWED_IPS", "198.51.100.0/24")
    monkeypatch.setenv("TOWNSQUARE_METRICS_TOKEN", "")
    settings = _settings()
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
    assert settings.metrics_allowed_ips == ["198.51.100.0/24"]
    assert settings.metrics_token is None  # empty means unset
    for bad in ("proxy.example.org", "*", "10.0.0.0/33", "127.0.0.1:8080"):
        monkeypatch.setenv("TOWNSQUARE_TRUSTED_PROXIES", bad)
        with pytest.raises(ValueError, match="not an IP address or CIDR network"):
            _settings()
    monkeypatch.delenv("TOWNSQUARE_TRUSTED_PROXIES")
    monkeypatch.setenv("TOWNSQUARE_METRICS_ALLOWED_IPS", "localhost")
    with pytest.raises(ValueError, match="metrics_allowed_ips"):
        _settings()


def test_production_refuses_a_short_metrics_token() -> None:
    with pytest.raises(UnsafeProductionSettings, match="TOWNSQUARE_METRICS_TOKEN"):
        _settings(env="production", secret_key=GOOD_SECRET, metrics_token="short")
    settings = _settings(env="production", secret_key=GOOD_SECRET, metrics_token="m" * 16)
    assert settings.metrics_token is not None
    assert "m" * 16 not in repr(settings)  # a secret: never in a log line or traceback
    assert _settings(metrics_token="short").metrics_token is not None  # development: any
