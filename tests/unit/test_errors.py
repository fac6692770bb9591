"""Only content-free errors cross a boundary: ours, AWS's, configuration errors; anything else by type only."""

import json
import traceback

import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel

from clinical.errors import (
    ConfigurationError,
    InvalidModelOutput,
    UnexpectedError,
    content_free_errors,
)

CONTENT = "Jane Roe reports chest pain"


class Shape(BaseModel):
    text: int


def raising(error: Exception):
    @content_free_errors
    def step():
        raise error

    return step


@pytest.mark.parametrize(
    "error",
    [
        InvalidModelOutput("model output is not valid JSON"),
        ClientError({"Error": {"Code": "NoSuchKey", "Message": "The specified key does not exist."}}, "GetObject"),
        ConfigurationError("environment variable X is not set"),
    ],
)
def test_errors_that_are_safe_by_construction_pass_unchanged(error):
    with pytest.raises(type(error)) as raised:
        raising(error)()
    assert raised.value is error


def third_party_errors() -> list[Exception]:
    errors = []
    for parse in (lambda: Shape.model_validate({"text": CONTENT}), lambda: json.loads(f'{{"a": "{CONTENT}" x}}')):
        try:
            parse()
        except Exception as error:
            errors.append(error)
    return [*errors, KeyError(CONTENT)]


@pytest.mark.parametrize("error", third_party_errors(), ids=lambda e: type(e).__name__)
def test_any_other_error_leaves_as_its_type_alone(error):
    """GIVEN a third-party error whose message or attributes hold content
    WHEN it leaves a guarded function THEN only its type goes with it: not in the message, not in a traceback."""
    with pytest.raises(UnexpectedError) as raised:
        raising(error)()
    assert raised.value.message == f"unexpected {type(error).__name__}"
    assert raised.value.retryable
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert CONTENT not in "".join(traceback.format_exception(raised.value))
