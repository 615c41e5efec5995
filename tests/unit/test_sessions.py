"""Sessions (lms.auth): Django's rules, the session and its user each read in one
raw statement, nothing remembered across requests."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lms.auth import SessionStore
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def logged_in(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def request_with(session_key: str):
    request = RequestFactory().get("/api/v1/me")
    request.session = SessionStore(session_key)
    return request


def test_a_session_gives_its_user_in_two_statements():
    user = make_user(first_name="Ayşe", is_staff=True)
    request = request_with(logged_in(user))
    with CaptureQueriesContext(connection) as queries:
        found = get_user(request)
    assert len(queries) == 2  # the session, then its user
    assert (found.pk, found.username, found.first_name, found.is_staff) == (
        user.pk,
        user.username,
        "Ayşe",
        True,
    )
    assert found.date_joined == user.date_joined  # typed as the ORM types it
    assert found.last_login is not None


def test_the_api_answers_a_session_and_forgets_nothing():
    user = make_user()
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/me").json()["username"] == user.username
    Session.objects.all().delete()  # logged out everywhere: the very next request is refused
    response = client.get("/api/v1/me")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_an_expired_session_is_no_session():
    key = logged_in(make_user())
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    store = SessionStore(key)
    assert store.load() == {}
    assert store.session_key is None  # as Django's: a new key is made on save
    assert get_user(request_with(key)).is_anonymous


def test_an_unknown_key_is_no_session():
    assert SessionStore("x" * 32).load() == {}
    assert get_user(request_with("' OR '1'='1")).is_anonymous  # data, never SQL


def test_a_deactivated_user_or_a_changed_password_ends_the_session():
    user = make_user()
    key = logged_in(user)
    user.is_active = False
    user.save()
    assert get_user(request_with(key)).is_anonymous
    user.is_active = True
    user.save()
    assert get_user(request_with(key)).pk == user.pk
    user.set_password("another-pw-456")
    user.save()
    assert get_user(request_with(key)).is_anonymous


def test_writes_are_djangos():
    store = SessionStore()
    store["language"] = "tr"
    store.save()
    assert SessionStore(store.session_key).load() == {"language": "tr"}
    store.delete()
    assert SessionStore(store.session_key).load() == {}
