import sys

from django.core.management.base import BaseCommand, CommandError

from streams.media.nginx import NginxConfig, render_config, write_config

# Flag -> NginxConfig field. Every flag defaults to the setting (echo/settings.py) that
# Django runs with; a flag given overrides it for this rendering only.
FLAGS = {
    "prefix": "prefix",
    "hls_path": "hls_path",
    "thumbs_path": "thumbs_path",
    "acme_webroot": "acme_webroot",
    "http_listen": "http_listen",
    "https_listen": "https_listen",
    "rtmp_port": "rtmp_port",
    "control_port": "control_port",
    "django": "django_upstream",
    "server_name": "server_name",
    "user": "user",
}


class Command(BaseCommand):
    help = (
        "Render deploy/nginx.conf.template with the settings' values (ECHO_HTTP_PORT, "
        "ECHO_HLS_PATH, ...) into the prefix, or to stdout with --stdout."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--prefix", help="nginx prefix: pid, logs, temp files (ECHO_NGINX_PREFIX)"
        )
        parser.add_argument("--hls-path", help="where HLS playlists are written (ECHO_HLS_PATH)")
        parser.add_argument("--thumbs-path", help="live preview images (ECHO_THUMBS_PATH)")
        parser.add_argument("--acme-webroot", help="certbot's webroot (ECHO_ACME_WEBROOT)")
        parser.add_argument("--http-listen", help="public HTTP listen address (ECHO_HTTP_PORT)")
        parser.add_argument("--https-listen", help="HTTPS listen address (ECHO_HTTPS_PORT)")
        parser.add_argument("--rtmp-port", type=int, help="(ECHO_RTMP_PORT)")
        parser.add_argument(
            "--control-port", type=int, help="loopback stat/control (ECHO_CONTROL_PORT)"
        )
        parser.add_argument(
            "--django",
            help="Django's host:port, or several comma-separated (ECHO_DJANGO_UPSTREAMS)",
        )
        parser.add_argument("--server-name", help="(ECHO_SERVER_NAME)")
        parser.add_argument("--user", help="user for worker processes (ECHO_NGINX_USER)")
        parser.add_argument("--stdout", action="store_true", help="print instead of writing files")

    def handle(self, *args, **options) -> None:
        overrides = {
            field: options[flag] for flag, field in FLAGS.items() if options[flag] is not None
        }
        try:
            config = NginxConfig.from_settings(**overrides)
            if options["stdout"]:
                sys.stdout.write(render_config(config))
            else:
                path = write_config(config)
                self.stdout.write(f"wrote {path}")
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
