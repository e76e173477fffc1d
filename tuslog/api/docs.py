"""The human-readable API reference, rendered on the server from the OpenAPI document
(no JavaScript, no CDN): every operation with its scope, parameters, body fields and
answers; the error catalogue (the ``type`` links of problem+json point here); the
webhook events."""

import base64
import functools
import hashlib
import json
import re
from html import escape
from typing import Any

from tuslog.errors import CATALOGUE
from tuslog.services.outbox import EVENT_TYPES

STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1f24}code,pre{font:13px ui-monospace,monospace;background:#f3f4f6;padding:0 .2em}"
    "pre{padding:.6em;overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.4em 0}"
    "td,th{border:1px solid #d0d7de;padding:.25em .5em;text-align:left;vertical-align:top}"
    "h3{margin-top:2em;font-family:ui-monospace,monospace}.m{font-weight:700;color:#0550ae}"
    "nav li{list-style:none}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = f"default-src 'none'; style-src '{STYLE_HASH}'; frame-ancestors 'none'"


_CODE = re.compile(r"`([^`]+)`")


def _text(markdown: str) -> str:
    """Escaped text with the document's `code` spans as <code>."""
    return _CODE.sub(r"<code>\1</code>", escape(markdown))


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if schema.get("type") == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{' (required)' if name in required else ''}</td>"
        f"<td>{escape(_type_of(spec))}</td><td>{_text(spec.get('description', ''))}</td></tr>"
        for name, spec in schema.get("properties", {}).items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>meaning</th></tr>{rows}</table>"


def _operation(method: str, path: str, spec: dict[str, Any], schemas: dict[str, Any]) -> str:
    anchor = spec["operationId"]
    parts = [
        f'<h3 id="{anchor}"><span class="m">{method.upper()}</span> {escape(path)}</h3>',
        f"<p><b>{escape(spec['summary'])}</b>. {_text(spec.get('description', ''))}</p>",
        f"<p>Scope: <code>{escape(spec.get('x-scope', 'none (public)'))}</code></p>",
    ]
    if spec["parameters"]:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
            f"<td>{escape(_type_of(p['schema']))}</td>"
            f"<td>{_text(p.get('description', ''))}</td></tr>"
            for p in spec["parameters"]
        )
        parts.append(
            f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>{rows}</table>"
        )
    body = spec.get("requestBody")
    if body:
        name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        parts.append(f"<p>Body (JSON, {escape(name)}):</p>{_fields(schemas[name])}")
    answers = ", ".join(
        f"<code>{status}</code> {escape(answer['description'])}"
        for status, answer in spec["responses"].items()
    )
    parts.append(f"<p>Answers: {answers}</p>")
    return "\n".join(parts)


def _catalogue() -> str:
    rows = "".join(
        f'<tr id="problem-{escape(code)}"><td><code>{escape(code)}</code></td>'
        f"<td>{definition.status}</td><td>{escape(definition.message)}</td></tr>"
        for code, definition in sorted(CATALOGUE.items())
    )
    return f"<table><tr><th>code</th><th>status</th><th>meaning</th></tr>{rows}</table>"


@functools.cache
def render(document_json: str) -> str:
    document = json.loads(document_json)
    schemas = document["components"]["schemas"]
    sections: dict[str, list[str]] = {}
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            sections.setdefault(spec["tags"][0], []).append(_operation(method, path, spec, schemas))
    nav = "".join(f'<li><a href="#tag-{escape(tag)}">{escape(tag)}</a></li>' for tag in sections)
    body = "".join(
        f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2>' + "".join(items)
        for tag, items in sections.items()
    )
    models = "".join(
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>{_fields(schema)}'
        for name, schema in sorted(schemas.items())
        if "properties" in schema
    )
    events = ", ".join(f"<code>{escape(event)}</code>" for event in EVENT_TYPES)
    intro = _text(document["info"]["description"]).replace("\n\n", "</p><p>")
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>tuslog REST API v1</title><style>{STYLE}</style>"
        f"<h1>tuslog REST API v1</h1><p>{intro}</p>"
        '<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> '
        "(OpenAPI 3.1).</p>"
        f'<nav><ul>{nav}<li><a href="#webhooks">Webhook events</a></li>'
        '<li><a href="#errors">Errors</a></li><li><a href="#schemas">Schemas</a></li></ul></nav>'
        f"{body}"
        '<h2 id="webhooks">Webhook events</h2>'
        f'<p>{events}. Each is a POST of <code>{{"type", "timestamp", "data"}}</code> '
        "signed as Standard Webhooks specifies: headers <code>webhook-id</code> (the same on "
        "every retry; deduplicate on it), <code>webhook-timestamp</code> and "
        "<code>webhook-signature</code> (<code>v1,</code> + base64 HMAC-SHA256 of "
        "<code>id.timestamp.body</code> with the base64-decoded secret after "
        "<code>whsec_</code>). Answer 2xx within the timeout; anything else is retried with "
        "exponential back-off. Every finished upload raises <code>upload.completed</code>; "
        "one whose client declared a SHA-256 also <code>upload.verified</code> or "
        "<code>upload.corrupt</code>. Payloads never contain a token.</p>"
        '<h2 id="errors">Errors</h2><p>Problem documents carry one of these codes.</p>'
        f"{_catalogue()}"
        f'<h2 id="schemas">Schemas</h2>{models}'
    )
