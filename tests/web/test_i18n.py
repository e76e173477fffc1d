"""Languages: the catalogues agree with English, every string the page and its script ask
for exists, and the page picks the customer's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tuslog.web.i18n import negotiate
from tuslog.web.messages import CATALOGUES, DEFAULT_LANGUAGE

WEB = Path(__file__).resolve().parents[2] / "tuslog" / "web"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
EN = CATALOGUES[DEFAULT_LANGUAGE]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", sorted(set(CATALOGUES) - {DEFAULT_LANGUAGE}))
def test_catalogue_matches_english(language: str) -> None:
    catalogue = CATALOGUES[language]
    assert set(catalogue) == set(EN), set(catalogue) ^ set(EN)
    for key, text in catalogue.items():
        assert text.strip(), key
        assert placeholders(text) == placeholders(EN[key]), key
    assert len(CATALOGUES) >= 3


def test_every_string_the_page_uses_exists() -> None:
    script = "".join(path.read_text() for path in (WEB / "static" / "js").glob("upload-*.js"))
    used_by_script = set(re.findall(r'\bt\("([a-z_.]+)"', script))
    used_by_script |= set(re.findall(r'"(error\.[a-z_]+)"', script))
    assert {"token.format", "error.token", "receipt.verified"} <= used_by_script
    missing = {key for key in used_by_script if f"js.{key}" not in EN}
    assert not missing
    templates = "".join(path.read_text() for path in (WEB / "templates").glob("*.html"))
    used_by_templates = set(re.findall(r"""t\[["']([a-z_.]+)["']\]""", templates))
    assert {"upload.title", "token.label", "nav.skip"} <= used_by_templates
    assert not {key for key in used_by_templates if key not in EN}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("de", "de"),
        ("de-CH,de;q=0.9,en;q=0.8", "de"),
        ("fr-CA", "fr"),
        ("ES-es", "es"),
        ("ja,fr;q=0.5,de;q=0.7", "de"),
        ("it, *;q=0.1", "en"),
        ("de;q=0, fr;q=0.2", "fr"),
        ("en;q=0.5, es", "es"),
        ("fr;q=abc, es;q=0.3", "es"),
        ("fr;q=2, de;q=0.4", "de"),
        (";;;,,,q=0.5,-,*-*", "en"),
        ("x" * 10_000, "en"),
        ("pt-BR," * 200 + "de", "en"),  # only the first 32 ranges are looked at
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


async def test_page_speaks_the_language_asked_for(client: TestClient) -> None:
    german = await client.get("/upload", headers={"Accept-Language": "de-AT,de;q=0.9"})
    html = await german.text()
    assert german.headers["Content-Language"] == "de"
    assert '<html lang="de">' in html
    assert CATALOGUES["de"]["upload.title"] in html
    assert CATALOGUES["de"]["js.error.token"] in html  # the script's strings, as data
    chosen = await client.get("/upload?lang=fr", headers={"Accept-Language": "de"})
    assert chosen.headers["Content-Language"] == "fr"
    assert CATALOGUES["fr"]["upload.title"] in await chosen.text()
    unknown = await client.get("/upload?lang=xx", headers={"Accept-Language": "es"})
    assert unknown.headers["Content-Language"] == "es"
