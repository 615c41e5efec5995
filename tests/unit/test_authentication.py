"""Bearer tokens: DRF's rules and errors, read in one statement, never remembered."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from media_proxy.authentication import BearerTokenAuthentication
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def authenticate(key: str):
    return BearerTokenAuthentication().authenticate_credentials(key)


def test_a_token_gives_its_user_in_one_statement():
    user = make_user(first_name="Ayşe", is_staff=True)
    token = Token.objects.create(user=user)
    with CaptureQueriesContext(connection) as queries:
        found, auth = authenticate(token.key)
    assert len(queries) == 1
    assert (found.pk, found.username, found.first_name, found.is_staff) == (
        user.pk,
        user.username,
        "Ayşe",
        True,
    )
    assert found.date_joined == user.date_joined  # typed as the ORM types it, on every backend
    assert (auth.key, auth.user_id) == (token.key, user.pk)


def test_an_unknown_or_deleted_token_is_refused_at_once():
    token = Token.objects.create(user=make_user())
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        authenticate("0" * 40)
    authenticate(token.key)
    token.delete()  # revoked: the very next request is refused
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        authenticate(token.key)


def test_an_inactive_users_token_is_refused():
    user = make_user()
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save()
    with pytest.raises(AuthenticationFailed, match="inactive"):
        authenticate(token.key)


@pytest.mark.parametrize("key", ["' OR '1'='1", "%", "_" * 40, "\\"])
def test_a_key_is_data_never_sql(key):
    Token.objects.create(user=make_user())
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        authenticate(key)
