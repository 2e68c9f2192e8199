"""gunicorn's worker class for echo.asgi: uvicorn, configured once for every place that runs
it (run_platform, echo-web.service, the tests' web servers).

    gunicorn echo.asgi:application --worker-class echo.workers.EchoUvicornWorker
"""

import warnings

from uvicorn.config import UvicornDeprecationWarning
from uvicorn_worker import UvicornWorker

# The legacy `websockets` protocol below, on purpose: uvicorn's websockets-sansio closes the
# socket right after a 1009 close frame with the oversized message still unread, so the
# kernel resets the connection and a busy client never reads the close code
# (tests/web/test_asgi_site.py failed that way under load). Its deprecation notice,
# printed by every worker at start, says nothing an operator can act on.
warnings.filterwarnings(
    "ignore",
    message="The `websockets` implementation is deprecated",
    category=UvicornDeprecationWarning,
)

# The largest WebSocket frame a client may send. Chat messages are at most 500 characters
# (the consumer refuses frames over 8 KB with an error event); a bigger frame closes the
# connection (1009) before anything buffers it.
WS_MAX_SIZE = 64 * 1024
# Pings keep idle chat connections open through nginx's proxy_read_timeout (deploy/) and
# find dead peers (a phone that lost its network) within interval + timeout.
WS_PING_INTERVAL = 20.0
WS_PING_TIMEOUT = 20.0


class EchoUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets",
        "ws_max_size": WS_MAX_SIZE,
        "ws_ping_interval": WS_PING_INTERVAL,
        "ws_ping_timeout": WS_PING_TIMEOUT,
        # Chat writes one frame to every connection of a room: with permessage-deflate each
        # of them would be compressed again per connection, and chat frames are small.
        "ws_per_message_deflate": False,
        # Django has no lifespan handler: "auto" would log a warning at every start.
        "lifespan": "off",
        # The client's address and scheme come from X-Forwarded-* only when nginx on
        # loopback sent them; echo/client.py reads the same header with the same trust.
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1,::1",
        # Requests are logged only where gunicorn is given --access-logfile (tests): nginx
        # already logs every request in production.
    }
