"""The edge tier: render deploy/edge.conf.template, and run a private edge (tests, bench).

An edge is a stock nginx (no RTMP module) that caches the origin's /hls/ and serves it to
viewers: segments once per edge whatever the number of viewers, playlists from a cache
renewed every tenth of a second (the template says why). Production renders it with
`manage.py edge_config` on each edge host (deploy/production/README.md, "Edges").
"""

import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

from streams.media.nginx import run_nginx, stop_private_nginx

TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "edge.conf.template"
_MISSING = "@@MISSING@@"
_ORIGIN = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}")
_SIZE = re.compile(r"[0-9]+[kmg]?", re.IGNORECASE)


@dataclass
class EdgeConfig:
    prefix: str
    # Where viewers reach this edge: PORT or ADDRESS:PORT.
    listen: str
    # The origin's public HTTP server(s), HOST:PORT, comma separated (ECHO_EDGE_ORIGIN).
    origin: str
    # Host header sent to the origin (its server_name), default the first origin's host.
    origin_host: str = ""
    worker_processes: str = "auto"
    worker_rlimit_nofile: int = 16384
    worker_connections: int = 8192
    limit_conn_per_address: int = 100
    cache_max_size: str = "1g"
    cache_keys_zone: str = "16m"
    user: str = ""
    access_log: str = ""
    error_log: str = ""
    # SO_REUSEPORT: the kernel spreads new connections over the workers evenly.
    reuseport: bool = True
    # Playlists: "tenth" (a cache renewed every 100 ms, the default), "second" (nginx's
    # shortest plain cache, 1 s) or "off" (every request passed to the origin over a kept
    # connection). bench/edges.py measures all three.
    playlist_cache: str = "tenth"

    @classmethod
    def from_settings(cls, **overrides) -> "EdgeConfig":
        values = dict(
            prefix=str(settings.ECHO_EDGE_PREFIX),
            listen=str(settings.ECHO_EDGE_PORT),
            origin=settings.ECHO_EDGE_ORIGIN,
            user=settings.ECHO_NGINX_USER,
            limit_conn_per_address=settings.ECHO_HTTP_CONNECTIONS_PER_ADDRESS,
        )
        return cls(**{**values, **overrides})

    @property
    def origins(self) -> list[str]:
        return [address.strip() for address in self.origin.split(",") if address.strip()]

    @property
    def cache_path(self) -> Path:
        return Path(self.prefix) / "cache"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[-1])

    def values(self) -> dict:
        values = {key: str(value) if value else "" for key, value in asdict(self).items()}
        values["reuseport"] = self.reuseport
        values["origin_servers"] = "\n".join(
            f"        server {address} max_fails=1 fail_timeout=2s;" for address in self.origins
        )
        values["origin_host"] = self.origin_host or self.origins[0].rsplit(":", 1)[0]
        values["cache_path"] = str(self.cache_path)
        values["user_directive"] = f"user {self.user};" if self.user else ""
        values["access_log"] = self.access_log or f"{self.prefix}/logs/access.log"
        values["error_log"] = self.error_log or f"{self.prefix}/logs/error.log"
        return values


def render_edge_config(config: EdgeConfig) -> str:
    if not config.origins:
        raise ValueError("origin is empty: set ECHO_EDGE_ORIGIN to the origin's HOST:PORT")
    for address in config.origins:
        # Each lands in a `server ...;` line: nothing there may end or extend the directive.
        if not _ORIGIN.fullmatch(address):
            raise ValueError(f"origin {address!r} must be HOST:PORT (ECHO_EDGE_ORIGIN)")
    if not re.fullmatch(r"[A-Za-z0-9.-]*", config.origin_host):
        raise ValueError(f"origin_host {config.origin_host!r} must be a host name")
    for name in ("cache_max_size", "cache_keys_zone"):
        if not _SIZE.fullmatch(getattr(config, name)):
            raise ValueError(f"{name} must be a size such as 512m or 2g")
    if config.worker_connections >= config.worker_rlimit_nofile:
        raise ValueError("worker_connections must stay below worker_rlimit_nofile")
    if config.playlist_cache not in ("tenth", "second", "off"):
        raise ValueError('playlist_cache must be "tenth", "second" or "off"')
    engine = Engine(autoescape=False, string_if_invalid=_MISSING)
    text = engine.from_string(TEMPLATE.read_text()).render(Context(config.values()))
    if _MISSING in text:
        raise ValueError("the edge template names a value EdgeConfig does not have")
    return text


def write_edge_config(config: EdgeConfig) -> Path:
    text = render_edge_config(config)
    prefix = Path(config.prefix)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    config.cache_path.mkdir(parents=True, exist_ok=True)
    path = prefix / "edge.conf"
    path.write_text(text)
    return path


def start_private_edge(config: EdgeConfig, *, timeout: float = 10.0) -> subprocess.Popen:
    """Render and run an edge in the foreground; returns once it listens."""
    conf = write_edge_config(config)
    return run_nginx(config.prefix, conf, [config.port], timeout=timeout, name="edge nginx")


def stop_private_edge(process: subprocess.Popen) -> None:
    stop_private_nginx(process)
