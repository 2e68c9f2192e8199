import sys

from django.core.management.base import BaseCommand, CommandError

from streams.media.edge import EdgeConfig, render_edge_config, write_edge_config


class Command(BaseCommand):
    help = (
        "Render deploy/edge.conf.template (an HLS cache in front of the origin) with the "
        "settings' values (ECHO_EDGE_ORIGIN, ECHO_EDGE_PORT, ECHO_EDGE_PREFIX) into the "
        "prefix, or to stdout with --stdout."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--prefix", help="the edge's prefix: pid, logs, cache (ECHO_EDGE_PREFIX)"
        )
        parser.add_argument("--listen", help="where viewers reach the edge (ECHO_EDGE_PORT)")
        parser.add_argument(
            "--origin", help="the origin's HOST:PORT, comma separated (ECHO_EDGE_ORIGIN)"
        )
        parser.add_argument("--origin-host", help="Host header for the origin (its server name)")
        parser.add_argument("--cache-max-size", help="largest cache on disk, e.g. 2g")
        parser.add_argument("--user", help="user for worker processes (ECHO_NGINX_USER)")
        parser.add_argument("--stdout", action="store_true", help="print instead of writing files")

    def handle(self, *args, **options) -> None:
        names = ("prefix", "listen", "origin", "origin_host", "cache_max_size", "user")
        overrides = {name: options[name] for name in names if options[name] is not None}
        try:
            config = EdgeConfig.from_settings(**overrides)
            if options["stdout"]:
                sys.stdout.write(render_edge_config(config))
            else:
                self.stdout.write(f"wrote {write_edge_config(config)}")
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
