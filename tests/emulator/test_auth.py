"""POST /auth/login and the bearer rules of /storage (403 vs 401)."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from dcs_emulator import Emulator

from .conftest import login, object_url

pytestmark = pytest.mark.wire

NOT_AUTHENTICATED = {"detail": "Not authenticated"}
BAD_CREDENTIALS = {"detail": "Invalid authentication credentials"}
INVALID_TOKEN = {"detail": "Invalid token"}


def get_object(emu: Emulator, authorization: str | None) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return requests.get(object_url(emu), params={"path": "eleven.mp3"}, headers=headers, timeout=5)


def get_listing(emu: Emulator, authorization: str | None) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return requests.get(f"{emu.base_url}/storage/books/Pub/Book", headers=headers, timeout=5)


# --- login ------------------------------------------------------------------


def test_login_returns_a_bearer_jwt(emu: Emulator) -> None:
    response = requests.post(
        f"{emu.base_url}/auth/login",
        json={"email": "lms@dcs.local", "password": "dcs-dev-password"},
        timeout=5,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type"}  # no expires_in, no refresh token
    assert body["token_type"] == "bearer"
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, emu.secret, algorithms=["HS256"])
    assert set(claims) == {"sub", "iat", "exp"}
    assert claims["sub"] == "1"
    assert claims["exp"] - claims["iat"] == 1800
    assert abs(claims["iat"] - time.time()) < 5
    assert emu.stats.logins == 1


@pytest.mark.parametrize("email", ["  lms@dcs.local  ", "LMS@DCS.LOCAL", "\tLms@Dcs.Local\n"])
def test_login_trims_and_lowercases_the_email(emu: Emulator, email: str) -> None:
    assert login(emu, email=email)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("lms@dcs.local", "wrong"),
        ("lms@dcs.local", " dcs-dev-password"),  # the password is not trimmed
        ("lms@dcs.local", "DCS-DEV-PASSWORD"),
        ("other@dcs.local", "dcs-dev-password"),
        ("", ""),
    ],
)
def test_login_with_wrong_credentials_is_401(emu: Emulator, email: str, password: str) -> None:
    response = requests.post(
        f"{emu.base_url}/auth/login", json={"email": email, "password": password}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid credentials"}
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("body", "first_loc"),
    [
        ({"email": "lms@dcs.local"}, ["body", "password"]),
        ({"password": "dcs-dev-password"}, ["body", "email"]),
        ({}, ["body", "email"]),
        ({"email": 5, "password": "dcs-dev-password"}, ["body", "email"]),
        ([], ["body"]),
        (None, ["body"]),
    ],
)
def test_login_with_missing_fields_is_422(emu: Emulator, body: object, first_loc: list) -> None:
    if body is None:
        response = requests.post(f"{emu.base_url}/auth/login", timeout=5)
    else:
        response = requests.post(f"{emu.base_url}/auth/login", json=body, timeout=5)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == first_loc


def test_login_with_broken_json_is_422(emu: Emulator) -> None:
    response = requests.post(
        f"{emu.base_url}/auth/login",
        data=b'{"email": ',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_login_is_post_only(emu: Emulator) -> None:
    response = requests.get(f"{emu.base_url}/auth/login", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert emu.stats.logins == 0


def test_custom_credentials(dcs_root) -> None:
    from dcs_emulator import run_in_thread

    with run_in_thread(dcs_root, email=" Admin@Example.COM ", password="s3cret") as other:
        token = login(other, email="admin@example.com", password="s3cret")
        assert get_object(other, f"Bearer {token}").status_code == 200
        assert (
            requests.post(
                f"{other.base_url}/auth/login",
                json={"email": "lms@dcs.local", "password": "dcs-dev-password"},
                timeout=5,
            ).status_code
            == 401
        )


# --- bearer rules -----------------------------------------------------------


@pytest.mark.parametrize("fetch", [get_object, get_listing])
def test_valid_token_reads(emu: Emulator, fetch) -> None:
    assert fetch(emu, f"Bearer {login(emu)}").status_code == 200
    assert fetch(emu, f"bearer {login(emu)}").status_code == 200  # scheme is case-insensitive


@pytest.mark.parametrize("fetch", [get_object, get_listing])
@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, NOT_AUTHENTICATED),
        ("", NOT_AUTHENTICATED),
        ("Bearer", NOT_AUTHENTICATED),
        ("Basic", NOT_AUTHENTICATED),
        ("Basic bG1zOnB3", BAD_CREDENTIALS),
        ("Token abc", BAD_CREDENTIALS),
        ("Bearerabc", NOT_AUTHENTICATED),
    ],
)
def test_missing_or_non_bearer_is_403(
    emu: Emulator, fetch, authorization: str | None, expected: dict
) -> None:
    response = fetch(emu, authorization)
    assert response.status_code == 403
    assert response.json() == expected


def _assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert "WWW-Authenticate" not in response.headers


def test_tampered_token_is_401(emu: Emulator) -> None:
    token = login(emu)
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _assert_invalid_token(get_object(emu, f"Bearer {head}.{payload}.{flipped}"))
    forged = jwt.encode({"sub": "1", "iat": 1, "exp": 2**40}, "not-the-secret-" * 3)
    _assert_invalid_token(get_object(emu, f"Bearer {forged}"))
    _assert_invalid_token(get_object(emu, "Bearer not-a-jwt"))
    _assert_invalid_token(get_object(emu, f"Bearer  {token}"))  # the extra space stays


def test_unknown_user_is_401(emu: Emulator) -> None:
    _assert_invalid_token(get_object(emu, f"Bearer {emu.issue_token('999')}"))
    assert get_object(emu, f"Bearer {emu.issue_token('1')}").status_code == 200


@pytest.mark.parametrize("fetch", [get_object, get_listing])
def test_api_keys_are_refused_on_storage(emu: Emulator, fetch) -> None:
    _assert_invalid_token(fetch(emu, "Bearer dcs_live_0123456789abcdef"))


def test_expired_token_is_401_without_leeway(emu: Emulator) -> None:
    now = int(time.time())
    expired = jwt.encode({"sub": "1", "iat": now - 60, "exp": now - 1}, emu.secret)
    _assert_invalid_token(get_object(emu, f"Bearer {expired}"))
    emu.faults.token_lifetime = 0
    _assert_invalid_token(get_object(emu, f"Bearer {login(emu)}"))


def test_token_lifetime_fault_expires_tokens_for_real(emu: Emulator) -> None:
    emu.faults.token_lifetime = 1
    token = login(emu)
    claims = jwt.decode(token, emu.secret, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 1
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.05)
    _assert_invalid_token(get_object(emu, f"Bearer {token}"))
    emu.faults.token_lifetime = None
    assert get_object(emu, f"Bearer {login(emu)}").status_code == 200


def test_expire_tokens(emu: Emulator) -> None:
    old = login(emu)
    assert get_object(emu, f"Bearer {old}").status_code == 200
    emu.expire_tokens()
    _assert_invalid_token(get_object(emu, f"Bearer {old}"))
    _assert_invalid_token(get_listing(emu, f"Bearer {old}"))
    new = login(emu)
    assert get_object(emu, f"Bearer {new}").status_code == 200
