"""Password reset is on only when mail can go out (EMAIL_URL): without it the pages are
404 and the sign-in page links to none; with it the mail leaves, the link in it resets the
password, and nothing is logged as an error."""

import re

import pytest
import requests

from local_servers import stop_process
from tests.conftest import server_env, start_gunicorn
from tests.factories import make_user

pytestmark = pytest.mark.wire


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]


def post_form(session: requests.Session, url: str, fields: dict[str, str]) -> requests.Response:
    token = csrf_token(session.get(url, timeout=10).text)
    return session.post(
        url, data={"csrfmiddlewaretoken": token, **fields}, timeout=10, allow_redirects=False
    )


@pytest.fixture(scope="module")
def lms_with_mail(django_db_setup, dcs_server, tmp_path_factory):
    """The LMS with mail on the console (EMAIL_URL=consolemail://): its log holds each mail."""
    env = server_env(dcs_server.base_url, EMAIL_URL="consolemail://")
    server = start_gunicorn(env, tmp_path_factory.mktemp("mail") / "gunicorn.log")
    yield server
    stop_process(server.process)


def test_without_mail_there_is_no_password_reset(lms):
    make_user("forgetful", email="forgetful@example.org")
    assert "password_reset" not in requests.get(lms.url("/accounts/login/"), timeout=10).text
    since = len(lms.log_lines())
    for path in (
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/done/",
    ):
        assert requests.get(lms.url(path), timeout=10).status_code == 404
    answer = requests.post(
        lms.url("/accounts/password_reset/"), data={"email": "forgetful@example.org"}, timeout=10
    )
    assert answer.status_code in (403, 404)  # CSRF refuses it first, or the 404
    assert not [line for line in lms.log_lines()[since:] if " ERROR " in line]


def test_with_mail_the_link_resets_the_password(lms_with_mail, transactional_db):
    lms = lms_with_mail
    make_user("forgetful", email="forgetful@example.org", password="old-pass-123")
    login_page = requests.get(lms.url("/accounts/login/"), timeout=10).text
    assert 'href="/accounts/password_reset/"' in login_page
    since = len(lms.log_lines())

    session = requests.Session()
    sent = post_form(
        session, lms.url("/accounts/password_reset/"), {"email": "forgetful@example.org"}
    )
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/accounts/password_reset/done/"
    mail = "\n".join(lms.log_lines()[since:])
    assert "To: forgetful@example.org" in mail
    link = re.search(r"http://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)", mail)[1]

    form = session.get(lms.url(link), timeout=10)  # Django swaps the token into the session
    assert form.status_code == 200
    done = post_form(
        session,
        form.url,
        {"new_password1": "a-new-pass-456", "new_password2": "a-new-pass-456"},
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/accounts/reset/done/"

    signed_in = post_form(
        requests.Session(),
        lms.url("/accounts/login/"),
        {"username": "forgetful", "password": "a-new-pass-456"},
    )
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/books/"
    assert not [line for line in lms.log_lines()[since:] if " ERROR " in line]
