"""The streamer's latency choice on the dashboard, and its coaching from the measured
fragment length (nginx's heartbeat stores it on the broadcast)."""

import pytest

from streams import latency, services
from streams.latency import LatencyMode
from streams.models import Broadcast, Channel

pytestmark = pytest.mark.usefixtures("plain_static_storage", "no_nginx")


def visible_fit(page: str) -> list[str]:
    """The data-fit messages the page shows (not hidden)."""
    return [
        fit
        for fit in ("unmeasured", "chosen", "other", "neither")
        if f'data-fit="{fit}">' in page or f'data-fit="{fit}" class="latency-warning">' in page
    ]


@pytest.mark.parametrize(
    ("seconds", "mode"),
    [(0.5, "lowest"), (0.48, "lowest"), (0.75, "lowest"), (1.0, "low"), (1.3, "low")]
    + [(1.5, None), (2.0, None), (8.0, None), (None, None)],
)
def test_a_fragment_length_fits_the_mode_whose_keyframes_make_it(seconds, mode):
    assert latency.mode_of_fragments(seconds) == mode


@pytest.mark.parametrize(
    ("chosen", "seconds", "fit"),
    [("lowest", 0.5, "chosen"), ("lowest", 1.0, "other"), ("low", 1.0, "chosen")]
    + [("low", 0.5, "other"), ("low", 4.0, "neither"), ("lowest", None, "unmeasured")],
)
def test_the_coaching_compares_the_measurement_with_the_chosen_mode(chosen, seconds, fit):
    assert latency.fit(chosen, seconds) == fit


def test_a_new_channel_is_on_low_latency(alice):
    assert alice.channel.latency_mode == LatencyMode.LOW


def test_setting_the_latency_mode_writes_that_column_only(alice):
    stale = Channel.objects.get(pk=alice.channel.pk)
    Channel.objects.filter(pk=stale.pk).update(title="Set elsewhere meanwhile")

    services.channel_settings_update(channel=stale, latency_mode="lowest")

    stale.refresh_from_db()
    assert stale.latency_mode == LatencyMode.LOWEST
    assert stale.title == "Set elsewhere meanwhile"


def test_the_streamer_chooses_lowest_latency_on_the_dashboard(alice, logged_in):
    client = logged_in(alice)

    response = client.post("/dashboard/latency/", {"latency_mode": "lowest"})

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    alice.channel.refresh_from_db()
    assert alice.channel.latency_mode == LatencyMode.LOWEST
    page = client.get("/dashboard/").content.decode()
    assert 'value="lowest" checked' in page
    assert "<dt>Keyframe Interval</dt><dd><strong>0.5 s</strong>" in page
    assert "keyint=15" in page


def test_an_unknown_latency_mode_is_refused(alice, logged_in):
    response = logged_in(alice).post("/dashboard/latency/", {"latency_mode": "instant"})

    assert response.status_code == 302
    alice.channel.refresh_from_db()
    assert alice.channel.latency_mode == LatencyMode.LOW


def test_the_latency_mode_needs_a_login_and_a_post(client, alice, logged_in):
    assert client.post("/dashboard/latency/", {"latency_mode": "lowest"}).status_code == 302
    assert logged_in(alice).get("/dashboard/latency/").status_code == 405
    alice.channel.refresh_from_db()
    assert alice.channel.latency_mode == LatencyMode.LOW


@pytest.mark.parametrize(
    ("chosen", "seconds", "fit", "top_warning"),
    [
        ("lowest", None, "unmeasured", False),
        ("lowest", 0.5, "chosen", False),
        ("lowest", 1.0, "other", False),
        ("low", 1.0, "chosen", False),
        ("low", 0.5, "other", False),
        ("low", 4.0, "neither", True),
        ("lowest", 8.0, "neither", True),
    ],
)
def test_the_dashboard_coaches_from_the_measured_fragment_length(
    alice, go_live, logged_in, chosen, seconds, fit, top_warning
):
    services.channel_settings_update(channel=alice.channel, latency_mode=chosen)
    broadcast = go_live(alice)
    Broadcast.objects.filter(pk=broadcast.pk).update(segment_seconds=seconds)

    page = logged_in(alice).get("/dashboard/").content.decode()

    assert visible_fit(page) == [fit]
    assert ("Viewers are further behind than they need to be" in page) is top_warning
    if seconds is not None:
        assert f"<strong data-fragment-seconds>{seconds:.2f}</strong>" in page
    keyframes = "0.5 s" if chosen == "lowest" else "1 s"
    if fit in ("other", "neither"):
        assert f"Keyframe Interval to <strong>{keyframes}</strong>" in page


def test_status_json_carries_the_measured_fragment_length(client, alice, go_live):
    broadcast = go_live(alice)
    Broadcast.objects.filter(pk=broadcast.pk).update(segment_seconds=0.5)

    assert client.get("/alice/status.json").json()["segment_seconds"] == 0.5
