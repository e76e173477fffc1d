"""The error catalogue, walked: every entry renders as a proper tus answer."""

import pytest

from tuslog import errors
from tuslog.server.tus_app import error_response


@pytest.mark.parametrize("code", sorted(errors.CATALOGUE))
def test_each_error_renders_as_tus_text(code: str) -> None:
    definition = errors.CATALOGUE[code]
    error = definition()
    assert (error.code, error.status) == (code, definition.status)
    assert 400 <= error.status < 600
    response = error_response(error)
    assert response.status == definition.status
    assert response.content_type == "text/plain"
    assert response.text == definition.message + "\n"
    assert definition.message.endswith(".") and "\n" not in definition.message
    if definition.retry_after is not None:
        assert response.headers["Retry-After"] == str(definition.retry_after)
    for name, value in definition.headers.items():
        assert response.headers[name] == value


def test_codes_are_unique_and_instances_fresh() -> None:
    first, second = errors.TOKEN_INVALID(), errors.TOKEN_INVALID()
    assert first is not second and first.headers is not second.headers
    first.headers["X"] = "1"
    assert "X" not in errors.TOKEN_INVALID().headers
