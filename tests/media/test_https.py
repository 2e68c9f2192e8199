"""The site over HTTPS: real nginx from deploy/ with a self-signed certificate made here by
the openssl CLI, Django's live server behind it, ffmpeg publishing over plain RTMP."""

import http.client
import http.cookiejar
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from streams.models import Broadcast
from tests.streaming import (
    free_port,
    live_server_nginx_config,
    running_rtmp,
    self_signed_certificate,
    wait_for,
)

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, tmp_path, transactional_db):
    """nginx with TLS in front of Django, which is set up as production is."""
    certificate, key = self_signed_certificate(tmp_path)
    # Production's cookies (the live server's middleware predates any SECURE_SSL_REDIRECT here).
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    config = live_server_nginx_config(
        live_server,
        settings,
        tmp_path,
        tls_certificate=str(certificate),
        tls_certificate_key=str(key),
        https_listen=f"127.0.0.1:{free_port()}",
    )
    with running_rtmp(config) as server:
        server.https_url = f"https://{config.https_listen}"
        server.tls = ssl.create_default_context(cafile=str(certificate))
        yield server


def plain_get(site, path: str) -> http.client.HTTPResponse:
    """GET over plain HTTP without following redirects."""
    host, port = site.config.http_listen.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_a_login_over_https_reaches_django_as_a_secure_request(site):
    alice = User.objects.create_user("alice", "alice@example.org", "a-long-password-1")
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=site.tls), urllib.request.HTTPCookieProcessor(cookies)
    )
    login_url = f"{site.https_url}/accounts/login/"

    with browser.open(login_url, timeout=10) as response:
        assert response.status == 200
        assert response.url == login_url
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "login": "alice", "password": "a-long-password-1"}
    ).encode()
    # CSRF checks the Origin against the request's scheme: a request Django took for plain
    # HTTP (no X-Forwarded-Proto https from nginx) is refused with 403 here.
    request = urllib.request.Request(
        login_url, data=form, headers={"Origin": site.https_url, "Referer": login_url}
    )
    with browser.open(request, timeout=10) as response:
        assert response.status == 200
        assert response.url == f"{site.https_url}/dashboard/"

    session = next(cookie for cookie in cookies if cookie.name == "sessionid")
    assert session.secure


def test_plain_http_redirects_to_the_same_page_over_https(site):
    response = plain_get(site, "/alice?tab=about")

    assert response.status == 301
    assert response.getheader("Location") == f"{site.https_url}/alice?tab=about"


def test_plain_http_serves_acme_challenges_from_the_webroot(site):
    challenges = Path(site.config.acme_webroot) / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / "token-Abc_123").write_text("token-Abc_123.thumbprint")

    response = plain_get(site, "/.well-known/acme-challenge/token-Abc_123")
    assert response.status == 200
    assert response.body == b"token-Abc_123.thumbprint"
    # An unknown token is certbot's failure to see, not a redirect to follow.
    assert plain_get(site, "/.well-known/acme-challenge/unknown").status == 404


def test_publishing_works_with_https_on_because_callbacks_stay_plain_http(site):
    alice = User.objects.create_user("alice", "alice@example.org", "pw")

    site.publish(alice.channel.stream_key)

    wait_for(
        lambda: Broadcast.objects.filter(channel=alice.channel, ended_at__isnull=True).exists(),
        timeout=20,
        message="on_publish through the control server",
    )
    wait_for(lambda: https_playlist_ready(site, "alice"), timeout=20, message="the playlist")


def https_playlist_ready(site, name: str) -> bool:
    try:
        with urllib.request.urlopen(
            f"{site.https_url}/hls/{name}.m3u8", context=site.tls, timeout=5
        ) as response:
            return response.status == 200 and b".ts" in response.read()
    except urllib.error.HTTPError:
        return False
