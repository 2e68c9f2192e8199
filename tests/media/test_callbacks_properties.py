"""Hostile callback input: whatever the fields hold, the exact verdict nginx-rtmp's
contract calls for (a redirect only for a real key, never a 5xx, never a broadcast
without a real key). Forms are generated with and without alice's real key."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams import services
from streams.models import Broadcast

SECRET = "property-test-secret"
VALID_KEY = "<alice's real key>"  # replaced by the key itself in each example
LIVE_CLIENT_ID = "12"  # alice's open broadcast, for on-update and on-publish-done
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
    st.sampled_from([VALID_KEY, LIVE_CLIENT_ID, "0" + LIVE_CLIENT_ID, "9" * 20, "9" * 21]),
)
forms = st.dictionaries(
    st.sampled_from(FIELDS), st.lists(field_values, min_size=1, max_size=3), max_size=len(FIELDS)
)


@pytest.fixture(autouse=True)
def _callback_settings(settings, no_nginx):
    settings.ECHO_RTMP_CALLBACK_SECRET = SECRET
    settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT = 10**9


# A well-formed publisher's fields, with alice's key; nginx appends the publish URL's
# query arguments, so further values for the same fields may follow (the last counts).
valid_forms = st.builds(
    lambda clientid, call, extra: {
        "app": ["ingest"] + extra.pop("app", []),
        "name": [VALID_KEY] + extra.pop("name", []),
        "clientid": [clientid] + extra.pop("clientid", []),
        "call": [call] + extra.pop("call", []),
        "flashver": ["FMLE/3.0"] + extra.pop("flashver", []),
        **extra,
    },
    st.sampled_from([LIVE_CLIENT_ID, "13", "0", "9" * 20]),
    st.sampled_from(["publish", "update_publish", "play"]),
    forms,
)


def last(form: dict, field: str) -> str:
    # Django's request.POST.get(), like the views, reads a repeated field's last value.
    values = form.get(field) or [""]
    return values[-1]


def expected_status(endpoint: str, form: dict, *, key: str, with_secret: bool) -> int:
    """The contract: what nginx-rtmp must be told for this form."""
    if not with_secret:
        return 403
    app, name, clientid = last(form, "app"), last(form, "name"), last(form, "clientid")
    well_formed = (
        app == "ingest" and 0 < len(name) <= 64 and clientid.isdigit() and len(clientid) <= 20
    )
    if endpoint == "on-publish":
        if not well_formed:
            return 400
        return 302 if name == key else 403
    if endpoint == "on-publish-done":
        return 200
    relay = last(form, "flashver") == "ngx-local-relay" and not app
    if relay or last(form, "call") != "update_publish":
        return 200
    if not well_formed:
        return 400
    return 200 if (name == key and clientid == LIVE_CLIENT_ID) else 403


def with_key(form: dict, key: str) -> dict:
    return {field: [key if v == VALID_KEY else v for v in values] for field, values in form.items()}


def check_verdict(alice, endpoint: str, form: dict, *, with_secret: bool) -> None:
    Broadcast.objects.all().delete()
    live = None
    if endpoint != "on-publish":
        live = services.broadcast_start(key=alice.channel.stream_key, client_id=LIVE_CLIENT_ID)
    key = alice.channel.stream_key
    form = with_key(form, key)
    client = Client(raise_request_exception=False)
    secret = SECRET if with_secret else "wrong"
    # Fields repeat as they would in a query string appended by nginx.
    response = client.post(
        f"/internal/rtmp/{endpoint}", form, headers={"X-Echo-Callback-Secret": secret}
    )

    expected = expected_status(endpoint, form, key=key, with_secret=with_secret)
    assert response.status_code == expected, (endpoint, form)
    if expected == 302:
        assert response["Location"] == "alice"
        assert Broadcast.objects.get().client_id == last(form, "clientid")
    elif live is None:
        assert not Broadcast.objects.exists()
    else:
        live.refresh_from_db()
        ended = endpoint == "on-publish-done" and expected == 200 and last(form, "name") == key
        ended = ended and last(form, "clientid") == LIVE_CLIENT_ID and last(form, "app") == "ingest"
        assert live.is_live is not ended, (endpoint, form)
        assert Broadcast.objects.count() == 1


ENDPOINTS = ["on-publish", "on-publish-done", "on-update"]
VALID_PUBLISH = {"app": ["ingest"], "name": [VALID_KEY], "clientid": [LIVE_CLIENT_ID]}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=forms, with_secret=st.booleans())
@example(form=VALID_PUBLISH, with_secret=True)
@example(form={**VALID_PUBLISH, "call": ["update_publish"]}, with_secret=True)
@example(form={**VALID_PUBLISH, "call": ["update_publish"], "name": ["x"]}, with_secret=True)
def test_hostile_callback_forms_get_the_exact_verdict(alice, endpoint, form, with_secret):
    check_verdict(alice, endpoint, form, with_secret=with_secret)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=valid_forms, with_secret=st.booleans())
def test_a_valid_key_with_junk_fields_is_still_checked_strictly(alice, endpoint, form, with_secret):
    check_verdict(alice, endpoint, form, with_secret=with_secret)
