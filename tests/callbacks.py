"""nginx-rtmp's callbacks as nginx's control server forwards them to Django: form POSTs
from loopback with the callback secret in a header (deploy/nginx.conf.template)."""

import pytest

from tests.streaming import CALLBACK_SECRET


@pytest.fixture
def callbacks_from_nginx(settings, no_nginx):
    """Django set up to take callbacks() below; no nginx to drop publishers through."""
    settings.ECHO_RTMP_CALLBACK_SECRET = CALLBACK_SECRET
    settings.ECHO_RTMP_ALLOWED_ADDRESSES = ["127.0.0.1"]


def callback(client, endpoint, *, secret=CALLBACK_SECRET, remote_addr="127.0.0.1", **fields):
    """POST one callback; a field given as None is left out, secret=None sends no header."""
    form = {"app": "ingest", "flashver": "FMLE/3.0", "clientid": "7", "addr": "192.0.2.1"}
    form.update(fields)
    form = {key: value for key, value in form.items() if value is not None}
    return client.post(
        f"/internal/rtmp/{endpoint}",
        form,
        REMOTE_ADDR=remote_addr,
        headers={"X-Echo-Callback-Secret": secret} if secret is not None else {},
    )


def publish(client, key, **fields):
    return callback(client, "on-publish", call="publish", name=key, type="live", **fields)
