"""Hostile callback input: whatever the fields hold, never a 5xx, never a redirect
unless a real key was given, never a broadcast without one."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from streams.models import Broadcast

SECRET = "property-test-secret"
FIELDS = [
    "app",
    "flashver",
    "swfurl",
    "tcurl",
    "pageurl",
    "addr",
    "clientid",
    "call",
    "name",
    "type",
]

field_values = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=300, max_size=2000),
    st.text(alphabet=st.characters(max_codepoint=31), max_size=20),  # control characters
    st.sampled_from(["ingest", "live", "", "publish", "update_publish", "ngx-local-relay", "1"]),
)
forms = st.dictionaries(
    st.sampled_from(FIELDS), st.lists(field_values, min_size=1, max_size=3), max_size=len(FIELDS)
)


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", "alice@example.org", "pw")


@pytest.fixture(autouse=True)
def _callback_settings(settings):
    settings.ECHO_RTMP_CALLBACK_SECRET = SECRET
    settings.ECHO_NGINX_CONTROL_URL = "http://127.0.0.1:9"
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 10**9


@pytest.mark.parametrize("endpoint", ["on-publish", "on-publish-done", "on-update"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=forms, with_secret=st.booleans())
def test_hostile_callback_forms_are_answered_cleanly(alice, endpoint, form, with_secret):
    client = Client(raise_request_exception=False)
    secret = SECRET if with_secret else "wrong"
    # Fields repeat as they would in a query string appended by nginx.
    response = client.post(
        f"/internal/rtmp/{endpoint}", form, headers={"X-Echo-Callback-Secret": secret}
    )
    assert response.status_code < 500
    assert not 300 <= response.status_code < 400
    assert not Broadcast.objects.exists()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extra=forms)
def test_a_valid_key_with_junk_fields_is_still_checked_strictly(alice, extra):
    client = Client(raise_request_exception=False)
    form = {**extra, "app": "ingest", "name": alice.channel.stream_key, "clientid": "12"}
    response = client.post(
        "/internal/rtmp/on-publish", form, headers={"X-Echo-Callback-Secret": SECRET}
    )
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"] == "alice"
    Broadcast.objects.all().delete()
