"""The error catalogue, walked: every entry renders as a proper tus answer."""

import errno
import logging

import pytest

from tuslog import errors
from tuslog.db.availability import log_failure
from tuslog.tus.render import error_response


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


def test_a_code_cannot_be_defined_twice() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        errors._define("token_invalid", 400, "Another meaning.")
    assert errors.CATALOGUE["token_invalid"] is errors.TOKEN_INVALID  # the first one stays


def test_every_definition_is_in_the_catalogue_under_its_own_code() -> None:
    definitions = [v for v in vars(errors).values() if isinstance(v, errors.ErrorDef)]
    assert sorted(d.code for d in definitions) == sorted(errors.CATALOGUE)
    assert all(errors.CATALOGUE[d.code] is d for d in definitions)


def test_instances_are_fresh() -> None:
    first, second = errors.TOKEN_INVALID(), errors.TOKEN_INVALID()
    assert first is not second and first.headers is not second.headers
    first.headers["X"] = "1"
    assert "X" not in errors.TOKEN_INVALID().headers


def test_a_database_out_of_reach_is_one_line_and_a_bug_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tuslog.test.failures")
    try:
        raise OSError(errno.ECONNREFUSED, "Connection refused")
    except OSError as exc:
        unreachable = exc
    with caplog.at_level(logging.WARNING, logger=log.name):
        log_failure(log, "pass %s failed", unreachable, "one")
        log_failure(log, "pass %s failed", KeyError("bug"), "two")
    first, second = caplog.records
    assert (first.levelname, first.exc_info) == ("WARNING", None)
    assert first.getMessage() == (
        "pass one failed: database unavailable: ConnectionRefusedError: "
        "[Errno 111] Connection refused"
    )
    assert second.levelname == "ERROR" and second.exc_info is not None
    assert second.exc_info[1] is not None and second.exc_info[1].args == ("bug",)
