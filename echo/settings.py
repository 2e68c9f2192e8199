"""echo.tv settings: one module, everything that varies read from the environment.

SQLite is the default (embedded, zero setup); MySQL/MariaDB is selected with
DATABASE_URL=mysql://user:pass@host:port/name or DB=mysql plus DB_HOST, DB_PORT,
DB_NAME, DB_USER, DB_PASSWORD. A bad value raises ImproperlyConfigured with the
variable's name instead of being guessed at.

Longer than 300 lines on purpose: one file to read for every value an operator can set,
nginx's ports and paths included (NginxConfig.from_settings renders nginx from them).
"""

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def envint(name: str, default: str) -> int:
    value = os.getenv(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def mysql_database(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with mysql:// (or use the SQLite default), got {parts.scheme!r}"
        )
    name = parts.path.lstrip("/")
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database: mysql://user:pass@host/NAME")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has an invalid port") from None
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": unquote(name),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
    }


def control_server(url: str, port: str) -> tuple[str, int]:
    """nginx's loopback control server: its URL and port, either given, the other derived."""
    if url:
        try:
            url_port = urlsplit(url).port
        except ValueError:
            url_port = None
        if not url.startswith("http://127.0.0.1:") or not url_port:
            raise ImproperlyConfigured(
                f"ECHO_NGINX_CONTROL_URL must be http://127.0.0.1:PORT, got {url!r}"
            )
        if port and port != str(url_port):
            raise ImproperlyConfigured(
                f"ECHO_CONTROL_PORT ({port}) and ECHO_NGINX_CONTROL_URL ({url}) disagree: "
                "set only ECHO_CONTROL_PORT"
            )
        port = str(url_port)
    control_port = envint("ECHO_CONTROL_PORT", port or "8099")
    return f"http://127.0.0.1:{control_port}", control_port


# Default video bitrates (kbit/s) of the rungs an operator names by height only.
RENDITION_KBPS = {1080: 4500, 720: 2500, 480: 1000, 360: 600, 240: 350, 160: 200}


def renditions_ladder(name: str, default: str) -> list[tuple[int, int, int]]:
    """ECHO_RENDITIONS: "off", or rungs like "720p30,480p30" or "720p30:2500k", as
    (height, fps, kbit/s) from the highest down."""
    value = os.getenv(name, default).strip().lower()
    if value in ("off", "none", "0", ""):
        return []
    ladder = []
    for item in value.split(","):
        match = re.fullmatch(r"(\d{3,4})p(\d{2})(?::(\d{2,5})k)?", item.strip())
        if not match:
            raise ImproperlyConfigured(
                f"{name}: {item.strip()!r} is not a rendition like 720p30 or 720p30:2500k"
                f" (or set {name}=off)"
            )
        height, fps = int(match[1]), int(match[2])
        kbps = int(match[3]) if match[3] else RENDITION_KBPS.get(height)
        if kbps is None:
            raise ImproperlyConfigured(
                f"{name}: {item.strip()!r} needs a bitrate, e.g. {height}p{fps}:800k"
            )
        if height % 2 or not 90 <= height <= 2160 or not 10 <= fps <= 60:
            raise ImproperlyConfigured(
                f"{name}: {item.strip()!r}: an even height 90-2160 and 10-60 fps"
            )
        ladder.append((height, fps, kbps))
    if len({height for height, _, _ in ladder}) < len(ladder):
        raise ImproperlyConfigured(f"{name}: each height once, got {value!r}")
    return sorted(ladder, reverse=True)


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    # A published key lets anyone sign sessions, e-mail confirmations and unsubscribe
    # links: only a DEBUG (development) run may fall back to it.
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it (50+ random characters) or run with DEBUG=true."
        )
    # The django-insecure- prefix makes `check --deploy` warn (security.W009).
    SECRET_KEY = "django-insecure-development-key-do-not-use-in-production-" + "x" * 20

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
if "127.0.0.1" not in ALLOWED_HOSTS:
    # nginx-rtmp's callbacks arrive with Host: 127.0.0.1 (the callback URL's host).
    ALLOWED_HOSTS.append("127.0.0.1")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.getenv("SITE_URL", "http://localhost:8000").rstrip("/")
SITE_NAME = "echo.tv"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's files, served by staticfiles: no CDN.
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "accounts",
    "streams",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "echo.urls"
WSGI_APPLICATION = "echo.wsgi.application"
ASGI_APPLICATION = "echo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.getenv("DATABASE_URL"):
    DATABASES = {"default": mysql_database(os.environ["DATABASE_URL"])}
elif os.getenv("DB", "sqlite") == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.getenv("DB_NAME", "echo"),
            "USER": os.getenv("DB_USER", "echo"),
            "PASSWORD": os.getenv("DB_PASSWORD", ""),
            "HOST": os.getenv("DB_HOST", "localhost"),
            "PORT": str(envint("DB_PORT", "3306")),
        }
    }
elif os.getenv("DB", "sqlite") == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.getenv("DB_NAME", str(BASE_DIR / "var" / "db.sqlite3")),
            # Callbacks from nginx and page requests write concurrently.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
else:
    raise ImproperlyConfigured(f"DB must be sqlite or mysql, got {os.getenv('DB')!r}")

if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

# Redis holds what every web server must agree on: the cache (allauth's rate limits,
# the failed-publish limit, API throttles), viewer presence and chat fan-out. Local runs
# use the private instance `run_platform` starts in ECHO_REDIS_DIR (its socket and log)
# when REDIS_URL is left at its default; tests start their own.
ECHO_REDIS_DIR = Path(os.getenv("ECHO_REDIS_DIR", str(BASE_DIR / "var" / "redis"))).resolve()
REDIS_URL = os.getenv("REDIS_URL", f"unix://{ECHO_REDIS_DIR / 'redis.sock'}")
# echo.cache: Redis not answering turns the cache off (limits fail open) instead of
# failing the request; the short timeouts keep a page from hanging on a Redis that is gone.
CACHES = {
    "default": {
        "BACKEND": "echo.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "echo",
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    }
}
# Chat fan-out: one Redis PUBLISH per group message, whatever the number of web servers.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL}]},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# django-allauth: log in by username or e-mail, mandatory verification, rate limits on.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = os.getenv("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USERNAME_MIN_LENGTH = 3
ACCOUNT_USERNAME_VALIDATORS = "accounts.validators.username_validators"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "change_password": "5/m/user",
}
LOGIN_REDIRECT_URL = "streams:dashboard"
ACCOUNT_SIGNUP_REDIRECT_URL = "accounts:welcome"
LOGIN_URL = "account_login"

EMAIL_BACKEND = os.getenv(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.getenv("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.getenv("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true")
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "echo.tv <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # hls.js comes from npm (package.json); served from node_modules, never vendored.
    ("vendor/hls.js", BASE_DIR / "node_modules" / "hls.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("ECHO_STATIC_MANIFEST", "true")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# nginx (deploy/) is the one proxy in front of Django and appends the client's address
# to X-Forwarded-For: without this every client would share nginx's 127.0.0.1 (one
# rate limit for everyone), or pick its own address by sending the header itself.
# Add one per further proxy (a TLS terminator or CDN in front of nginx).
# echo/client.py reads it for every limit (heartbeats, allauth, API throttles); the two
# below keep any other allauth or DRF code that reads the header in agreement.
ECHO_TRUSTED_PROXIES = envint("ECHO_TRUSTED_PROXIES", "1")
if ECHO_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(
        f"ECHO_TRUSTED_PROXIES must be 0 or more, got {ECHO_TRUSTED_PROXIES}"
    )
ALLAUTH_TRUSTED_PROXY_COUNT = ECHO_TRUSTED_PROXIES

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    # Counted in the default cache, so the limits hold across gunicorn workers.
    "DEFAULT_THROTTLE_CLASSES": [
        "streams.api.throttles.AnonRateThrottle",
        "streams.api.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": "120/minute", "user": "600/minute"},
    "NUM_PROXIES": ECHO_TRUSTED_PROXIES,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "echo.tv API",
    "DESCRIPTION": "Live channels, channel pages, your own channel and follows. "
    "Log in with a session (the website's) or a token from POST /api/auth/token/ "
    "sent as `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies list only the writable fields, not the whole response.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would otherwise load a badge from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Security: strict by default when DEBUG is off, so `check --deploy` is clean in production.
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "false" if DEBUG else "true")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
# TLS is terminated by nginx, which also redirects plain HTTP to HTTPS once a certificate
# is configured (ECHO_TLS_CERTIFICATE): this is only a second line behind it. Redirecting
# here would break nginx-rtmp callbacks (plain HTTP on loopback), hence the exemption.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
if SECURE_SSL_REDIRECT:
    SECURE_REDIRECT_EXEMPT = [r"^internal/rtmp/"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# nginx-rtmp integration (see deploy/ and ../shared/DESIGN.md).
ECHO_RTMP_CALLBACK_SECRET = os.getenv("ECHO_RTMP_CALLBACK_SECRET", "")
ECHO_RTMP_ALLOWED_ADDRESSES = envlist("ECHO_RTMP_ALLOWED_ADDRESSES", "127.0.0.1,::1")
# Failed publishes (wrong keys) allowed per source address per window before refusing all.
ECHO_RTMP_FAILED_PUBLISH_LIMIT = envint("ECHO_RTMP_FAILED_PUBLISH_LIMIT", "10")
ECHO_RTMP_FAILED_PUBLISH_WINDOW = envint("ECHO_RTMP_FAILED_PUBLISH_WINDOW", "300")
ECHO_RTMP_PUBLIC_URL = os.getenv("ECHO_RTMP_PUBLIC_URL", "rtmp://localhost:1935/ingest")
# RTMPS ingest (nginx terminates TLS when ECHO_TLS_CERTIFICATE is set), shown on the
# dashboard beside the RTMP URL; empty: not offered.
ECHO_RTMPS_PUBLIC_URL = os.getenv("ECHO_RTMPS_PUBLIC_URL", "")
ECHO_NGINX_CONTROL_URL, ECHO_CONTROL_PORT = control_server(
    os.getenv("ECHO_NGINX_CONTROL_URL", ""), os.getenv("ECHO_CONTROL_PORT", "")
)
ECHO_HLS_URL = os.getenv("ECHO_HLS_URL", "/hls/")
# Where nginx writes HLS (hls_path); Django reads playlists from here to measure segments.
ECHO_HLS_PATH = Path(os.getenv("ECHO_HLS_PATH", str(BASE_DIR / "var" / "hls")))
# Live thumbnails, written by nginx's exec_push ffmpeg and served by nginx.
ECHO_THUMBS_PATH = Path(os.getenv("ECHO_THUMBS_PATH", str(ECHO_HLS_PATH.parent / "thumbs")))
ECHO_THUMBS_URL = os.getenv("ECHO_THUMBS_URL", "/thumbs/")
# Past broadcasts and clips (streams/replays/). nginx-rtmp records each broadcast as FLV
# here (never served); the worker remuxes it to MP4 into ECHO_REPLAYS_PATH, which nginx
# serves only through X-Accel-Redirect from Django (an `internal` location).
ECHO_RECORDINGS_PATH = Path(
    os.getenv("ECHO_RECORDINGS_PATH", str(ECHO_HLS_PATH.parent / "recordings"))
)
ECHO_REPLAYS_PATH = Path(os.getenv("ECHO_REPLAYS_PATH", str(ECHO_HLS_PATH.parent / "replays")))
# Replays older than this many days are deleted with their files (0: kept forever).
ECHO_REPLAY_RETENTION_DAYS = envint("ECHO_REPLAY_RETENTION_DAYS", "30")
# Below this much free space (MB) on the recordings' disk, recording pauses.
ECHO_RECORDING_MIN_FREE_MB = envint("ECHO_RECORDING_MIN_FREE_MB", "2048")
# Seconds between a failed replay job's attempts (two retries, then it stays FAILED).
ECHO_JOB_RETRY_SECONDS = [int(v) for v in envlist("ECHO_JOB_RETRY_SECONDS", "10,60")]
# Clips one user may request, per hour (DRF's rate syntax, shared by page and API).
ECHO_CLIP_RATE = os.getenv("ECHO_CLIP_RATE", "10/hour")
# Renditions (streams/media/renditions.py): the ladder ffmpeg transcodes per live broadcast
# (rungs at or above the source's height are left out), or "off". At most
# ECHO_TRANSCODE_MAX broadcasts are transcoded at once (the whole ladder of one 1080p30
# broadcast costs 1.2 cores with x264 veryfast: README "Renditions"); the others are
# played as sent. Default: one per two cores.
ECHO_RENDITIONS = renditions_ladder("ECHO_RENDITIONS", "720p30,480p30,360p30")
ECHO_TRANSCODE_MAX = envint("ECHO_TRANSCODE_MAX", str((os.cpu_count() or 1) // 2))
if ECHO_TRANSCODE_MAX < 0:
    raise ImproperlyConfigured(f"ECHO_TRANSCODE_MAX must be 0 or more, got {ECHO_TRANSCODE_MAX}")
# A transcoder below 0.95x real time for this long gives up: the channel is played as sent
# (its source level comes through that ffmpeg too, so every viewer would fall behind with
# it), and it tries again 10 times this later, then 20 times, and so on up to an hour.
ECHO_TRANSCODE_BEHIND_SECONDS = envint("ECHO_TRANSCODE_BEHIND_SECONDS", "30")
if ECHO_TRANSCODE_BEHIND_SECONDS < 1:
    raise ImproperlyConfigured(
        f"ECHO_TRANSCODE_BEHIND_SECONDS must be 1 or more, got {ECHO_TRANSCODE_BEHIND_SECONDS}"
    )
# TLS certificate and key (PEM paths) for HTTPS and RTMPS, terminated by nginx; empty: none.
ECHO_TLS_CERTIFICATE = os.getenv("ECHO_TLS_CERTIFICATE", "")
ECHO_TLS_CERTIFICATE_KEY = os.getenv("ECHO_TLS_CERTIFICATE_KEY", "")
# Where nginx listens and what it proxies to: `manage.py nginx_config` and `run_platform`
# render deploy/nginx.conf.template from these (NginxConfig.from_settings), so nginx and
# Django always agree. The control server above is always on 127.0.0.1.
ECHO_HTTP_PORT = envint("ECHO_HTTP_PORT", "8000")
# Used only with a certificate: the site moves to HTTPS and plain HTTP redirects to it.
ECHO_HTTPS_PORT = envint("ECHO_HTTPS_PORT", "443")
ECHO_RTMP_PORT = envint("ECHO_RTMP_PORT", "1935")
# RTMPS (TLS in front of the same ingest), only with a certificate.
ECHO_RTMPS_PORT = envint("ECHO_RTMPS_PORT", "1936")
# Loopback-only nginx-rtmp listens behind the public RTMP/RTMPS front: ingest, and the
# internal live application that nothing outside nginx may reach.
ECHO_RTMP_INGEST_PORT = envint("ECHO_RTMP_INGEST_PORT", "19350")
ECHO_RTMP_LIVE_PORT = envint("ECHO_RTMP_LIVE_PORT", "19351")
# Simultaneous RTMP/RTMPS connections from one address (raise it for a LAN event).
ECHO_RTMP_CONNECTIONS_PER_ADDRESS = envint("ECHO_RTMP_CONNECTIONS_PER_ADDRESS", "20")
# gunicorn, on 127.0.0.1.
ECHO_DJANGO_PORT = envint("ECHO_DJANGO_PORT", "8001")
# Every Django web server nginx spreads requests over (HOST:PORT or unix:/PATH, comma
# separated); empty: this machine's gunicorn, 127.0.0.1:ECHO_DJANGO_PORT.
ECHO_DJANGO_UPSTREAMS = envlist("ECHO_DJANGO_UPSTREAMS", "")
# Requests in progress per client address on the public site, an open chat WebSocket
# included (one household's tabs stay far below it); raise it for a load test from one host.
ECHO_HTTP_CONNECTIONS_PER_ADDRESS = envint("ECHO_HTTP_CONNECTIONS_PER_ADDRESS", "100")
ECHO_SERVER_NAME = os.getenv("ECHO_SERVER_NAME", "_")
# nginx's prefix (pid, logs, temp files) and the user its workers run as (empty: nginx's default).
ECHO_NGINX_PREFIX = Path(os.getenv("ECHO_NGINX_PREFIX", str(BASE_DIR / "var" / "nginx")))
ECHO_NGINX_USER = os.getenv("ECHO_NGINX_USER", "")
# Edges (deploy/edge.conf.template): HLS caches in front of the origin. On the web servers,
# the edges' /hls/ base URLs (comma separated) that pages hand to the player, which picks
# one and moves to another when it stops answering; empty: the site's own ECHO_HLS_URL.
ECHO_HLS_EDGE_URLS = envlist("ECHO_HLS_EDGE_URLS", "")
for _edge in ECHO_HLS_EDGE_URLS:
    if not re.fullmatch(r"https?://[^\s/\"'<>]+(/[^\s\"'<>]*)?/", _edge):
        raise ImproperlyConfigured(
            f"ECHO_HLS_EDGE_URLS: {_edge!r} is not an http(s) URL ending in / (e.g. "
            "https://edge1.example.com/hls/)"
        )
# On an edge host: the origin's public HTTP HOST:PORT, where it listens, and its prefix.
ECHO_EDGE_ORIGIN = os.getenv("ECHO_EDGE_ORIGIN", "")
ECHO_EDGE_PORT = envint("ECHO_EDGE_PORT", "8080")
ECHO_EDGE_PREFIX = Path(os.getenv("ECHO_EDGE_PREFIX", str(BASE_DIR / "var" / "edge")))
# certbot's webroot: nginx serves /.well-known/acme-challenge/ from it.
ECHO_ACME_WEBROOT = Path(os.getenv("ECHO_ACME_WEBROOT", str(BASE_DIR / "var" / "acme")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
