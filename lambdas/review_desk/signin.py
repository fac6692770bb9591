"""Signing in to the review page on AWS: Cognito's managed login with the authorization code and PKCE, the
access token kept in an HttpOnly cookie, and on every request the token checked by Cognito itself.

- /login sends the browser to the user pool's /oauth2/authorize with a fresh `state` and PKCE challenge, both
  kept in a short-lived HttpOnly cookie (the verifier never leaves the server's cookie).
- /logout revokes the user's tokens (GlobalSignOut with the session's access token), clears the session cookie
  and ends Cognito's own session (its /logout endpoint).
- /callback checks `state`, trades the code (with the verifier) at /oauth2/token, and sets the session cookie:
  `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax (a cross-site form post carries no cookie),
  for the token's own lifetime.
- Every other request: Cognito's GetUser validates the token (signature, expiry, revocation; it needs the
  `aws.cognito.signin.user.admin` scope). Only then are its claims read, and they must name this user pool
  and this app client (a valid token of another pool is refused) and the clinicians group.

The signer is recorded as `<issuer>|<sub>`: the pool's issuer URL and the user's immutable id (FHIR's
system|value), shown with the user's name. Nothing of a token is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session

from review_desk.app import Response
from review_desk.pages import message_page

SESSION_COOKIE = "__Host-review-session"
LOGIN_COOKIE = "__Host-review-login"
LOGIN_SECONDS = 600
SCOPES = "openid email aws.cognito.signin.user.admin"
TOKEN_TIMEOUT_SECONDS = 10
# Cognito's answers to a token it no longer accepts (expired, signed out, its user deleted).
NO_SESSION = ("NotAuthorizedException", "UserNotFoundException")


class NotSignedIn(Exception):
    """No session, or one Cognito no longer accepts: sign in again."""


class NotAClinician(Exception):
    """A signed-in user outside the clinicians group (or of another pool or app): refused."""


@dataclass(frozen=True)
class SignIn:
    """The user pool the page signs in with (the stack passes these in the function's environment)."""

    domain: str  # https://<prefix>.auth.<region>.amazoncognito.com
    user_pool_id: str  # <region>_<id>
    client_id: str
    page_url: str  # https://<api>.execute-api.<region>.amazonaws.com/<stage>/
    group: str = "clinicians"

    @property
    def issuer(self) -> str:
        region = self.user_pool_id.split("_", 1)[0]
        return f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool_id}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.page_url}callback"


@dataclass(frozen=True)
class Clinician:
    identity: str  # <issuer>|<sub>
    name: str


def cookies(header: str | None) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except Exception:  # a malformed Cookie header is no session
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def login(config: SignIn) -> Response:
    """To the user pool's managed login, with a new state and PKCE challenge."""
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
    )
    return Response(
        HTTPStatus.SEE_OTHER,
        headers={
            "Location": f"{config.domain}/oauth2/authorize?{query}",
            "Set-Cookie": _cookie(LOGIN_COOKIE, f"{state}.{verifier}", LOGIN_SECONDS),
        },
    )


def callback(config: SignIn, query: dict[str, str], jar: dict[str, str], http=None) -> tuple[Response, list[str]]:
    """Trade the code for tokens; the response and its cookies (the session set, the login's cleared)."""
    state, _, verifier = jar.get(LOGIN_COOKIE, "").partition(".")
    if not state or not hmac.compare_digest(state, query.get("state", "")) or not query.get("code"):
        return _refused(HTTPStatus.BAD_REQUEST, "The sign-in did not come back as it left: sign in again."), []
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": config.client_id,
            "code": query["code"],
            "redirect_uri": config.redirect_uri,
            "code_verifier": verifier,
        }
    )
    request = AWSRequest(
        method="POST",
        url=f"{config.domain}/oauth2/token",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        answer = (http or URLLib3Session(timeout=TOKEN_TIMEOUT_SECONDS)).send(request.prepare())
    except BotoCoreError as error:
        return _refused(HTTPStatus.BAD_GATEWAY, f"Cognito could not be reached ({type(error).__name__})."), []
    if answer.status_code != 200:
        return _refused(HTTPStatus.BAD_REQUEST, f"Cognito refused the sign-in ({answer.status_code})."), []
    tokens = json.loads(answer.content)
    session = _cookie(SESSION_COOKIE, tokens["access_token"], int(tokens.get("expires_in", 3600)))
    return Response(HTTPStatus.SEE_OTHER, headers={"Location": config.page_url}), [
        session,
        _cookie(LOGIN_COOKIE, "", 0),
    ]


def logout(config: SignIn, cognito, jar: dict[str, str]) -> Response:
    """The user's tokens revoked, the session cookie cleared, and Cognito's own session ended (its /logout, back
    to the page, which then asks for a new sign-in). A token Cognito already refuses needs no revoking; when
    Cognito cannot revoke, the cookie is kept so that signing out again can."""
    token = jar.get(SESSION_COOKIE)
    if token:
        try:
            # GlobalSignOut, not RevokeToken: that revokes a refresh token, and the cookie holds only the access token.
            cognito.global_sign_out(AccessToken=token)
        except (ClientError, BotoCoreError) as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            if code not in NO_SESSION:
                message = f"Cognito did not sign you out ({code}): sign out again."
                return _refused(HTTPStatus.BAD_GATEWAY, message, "Sign-out")
    query = urlencode({"client_id": config.client_id, "logout_uri": config.page_url})
    return Response(
        HTTPStatus.SEE_OTHER,
        headers={
            "Location": f"{config.domain}/logout?{query}",
            "Set-Cookie": _cookie(SESSION_COOKIE, "", 0),
        },
    )


def clinician(config: SignIn, cognito, jar: dict[str, str]) -> Clinician:
    """The signed-in clinician, or NotSignedIn / NotAClinician."""
    token = jar.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn
    try:
        user = cognito.get_user(AccessToken=token)
    except ClientError as error:
        if error.response["Error"]["Code"] in NO_SESSION:
            raise NotSignedIn from None
        raise
    claims = _claims(token)  # Cognito has just accepted this very token
    if claims.get("iss") != config.issuer or claims.get("client_id") != config.client_id:
        raise NotAClinician
    if config.group not in claims.get("cognito:groups", []):
        raise NotAClinician
    return Clinician(identity=f"{claims['iss']}|{claims['sub']}", name=user["Username"])


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _refused(status: HTTPStatus, message: str, title: str = "Sign-in") -> Response:
    return Response(status, message_page(title, message))
