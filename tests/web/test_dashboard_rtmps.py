"""The dashboard offers RTMPS beside RTMP when the operator sets ECHO_RTMPS_PUBLIC_URL."""

from django.test import Client


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_shows_the_rtmps_url_when_set(alice, settings):
    settings.ECHO_RTMP_PUBLIC_URL = "rtmp://live.example.org/ingest"
    settings.ECHO_RTMPS_PUBLIC_URL = "rtmps://live.example.org:443/ingest"
    page = logged_in(alice).get("/dashboard/").content.decode()
    assert "rtmp://live.example.org/ingest" in page
    assert '<code id="rtmps-url">rtmps://live.example.org:443/ingest</code>' in page


def test_the_dashboard_offers_no_rtmps_by_default(alice, settings):
    settings.ECHO_RTMPS_PUBLIC_URL = ""
    page = logged_in(alice).get("/dashboard/").content.decode()
    assert "rtmps" not in page.lower()
