"""Settings: the README table is the definition, and bad values name their variable."""

import re
from pathlib import Path

import pytest

from tuslog.settings import Settings, SettingsError, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `TUSLOG_([A-Z_]+)` \| (`[^`]*`|\(none\)) \| (.+) \|$")


def readme_rows() -> dict[str, tuple[str | None, str]]:
    text = README.read_text()
    table = text.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line.strip())
        if match:
            default = None if match.group(2) == "(none)" else match.group(2).strip("`")
            rows[match.group(1).lower()] = (default, match.group(3).strip())
    return rows


def test_readme_table_lists_exactly_the_settings() -> None:
    assert sorted(readme_rows()) == sorted(Settings.model_fields)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_readme_default_and_description_match(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    default, description = readme_rows()[name]
    field = Settings.model_fields[name]
    assert description == field.description
    for key in list(__import__("os").environ):
        if key.startswith("TUSLOG_"):
            monkeypatch.delenv(key)
    built_in = getattr(load_settings(), name)
    if default is None:
        assert built_in in (None, [])
    else:
        monkeypatch.setenv(f"TUSLOG_{name.upper()}", default)
        assert getattr(load_settings(), name) == built_in


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TUSLOG_PORT", "http"),
        ("TUSLOG_PORT", "70000"),
        ("TUSLOG_MAX_UPLOAD_SIZE", "12X"),
        ("TUSLOG_UPLOAD_EXPIRY", "soon"),
        ("TUSLOG_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TUSLOG_PUBLIC_URL", "logs.example.com"),
        ("TUSLOG_LOG_LEVEL", "LOUD"),
        ("TUSLOG_WORKERS", "0"),
        ("TUSLOG_DATABASE_URL", "mysql://x"),
        ("TUSLOG_DATABASE_URL", "sqlite:///data/x.db"),
        ("TUSLOG_MAX_UPLOAD_SIZE", "0"),
        ("TUSLOG_CORS_ORIGINS", "https://ok.example,notanorigin"),
        ("TUSLOG_STORAGE_DIR", ""),
    ],
)
def test_bad_value_names_the_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert variable in str(caught.value)
    assert "\n" not in str(caught.value)


def test_lists_and_units_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSLOG_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    monkeypatch.setenv("TUSLOG_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TUSLOG_MAX_UPLOAD_SIZE", "50G")
    monkeypatch.setenv("TUSLOG_UPLOAD_EXPIRY", "36h")
    monkeypatch.setenv("TUSLOG_PUBLIC_URL", "https://logs.example.com/")
    settings = load_settings()
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_upload_size == 50 * 1024**3
    assert settings.upload_expiry.total_seconds() == 36 * 3600
    assert settings.public_url == "https://logs.example.com"
