"""What a browser sends for a form, for the review page's tests: the page's forms are urlencoded; another page's
may be multipart."""

from __future__ import annotations

import re

from review_desk.pages import FORM_TOKEN_FIELD

URLENCODED = "application/x-www-form-urlencoded"


def multipart(fields: dict[str, str], boundary: str = "form-boundary-7MA4YWxk") -> tuple[str, str]:
    """A multipart/form-data body of `fields` and its Content-Type, as a browser builds it."""
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    return f"{parts}--{boundary}--\r\n", f"multipart/form-data; boundary={boundary}"


def form_token_in(page: str) -> str:
    """The session's token that the page's forms carry (each form carries the same one)."""
    tokens = set(re.findall(rf"name={FORM_TOKEN_FIELD} value='([^']*)'", page))
    assert len(tokens) == 1, f"the page's forms carry {len(tokens)} different tokens"
    return tokens.pop()
