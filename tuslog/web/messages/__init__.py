"""Every string the customer's pages show, one module per language (keys as in en.py).

To add a language: copy en.py, translate the values (keep ``{placeholders}``), and add it
to ``CATALOGUES`` below; tests/web/test_i18n.py checks keys and placeholders."""

from tuslog.web.messages import de, en, es, fr

DEFAULT_LANGUAGE = "en"
CATALOGUES: dict[str, dict[str, str]] = {
    "en": en.MESSAGES,
    "de": de.MESSAGES,
    "fr": fr.MESSAGES,
    "es": es.MESSAGES,
}
