import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.media.nginx import NginxConfig, render_config, write_config


class Command(BaseCommand):
    help = "Render deploy/nginx.conf.template (into --prefix, or to stdout with --stdout)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--prefix", required=True, help="nginx prefix: pid, logs, temp files")
        parser.add_argument("--hls-path", required=True, help="where HLS playlists are written")
        parser.add_argument(
            "--thumbs-path",
            default="",
            help="where live preview images are written (default: 'thumbs' next to --hls-path)",
        )
        parser.add_argument("--http-listen", default="8000", help="public HTTP listen address")
        parser.add_argument("--rtmp-port", type=int, default=1935)
        parser.add_argument("--control-port", type=int, default=8099, help="loopback stat/control")
        parser.add_argument("--django", default="127.0.0.1:8001", help="gunicorn host:port")
        parser.add_argument("--server-name", default="_")
        parser.add_argument("--user", default="", help="user for worker processes")
        parser.add_argument("--stdout", action="store_true", help="print instead of writing files")

    def handle(self, *args, **options) -> None:
        config = NginxConfig(
            prefix=options["prefix"],
            hls_path=options["hls_path"],
            http_listen=options["http_listen"],
            rtmp_port=options["rtmp_port"],
            control_port=options["control_port"],
            django_upstream=options["django"],
            callback_secret=settings.ECHO_RTMP_CALLBACK_SECRET,
            server_name=options["server_name"],
            user=options["user"],
            thumbs_path=options["thumbs_path"],
        )
        try:
            if options["stdout"]:
                sys.stdout.write(render_config(config))
            else:
                path = write_config(config)
                self.stdout.write(f"wrote {path}")
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
