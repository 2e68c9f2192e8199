import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from streams.latency import LatencyMode, mode_of_fragments


def stream_key_generate() -> str:
    # 192 bits of randomness, URL-safe; the prefix makes a leaked key easy to recognise.
    return "live_" + secrets.token_urlsafe(24)


def stream_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class ChannelQuerySet(models.QuerySet):
    def live(self) -> "ChannelQuerySet":
        # Not broadcasts__ended_at__isnull: that LEFT JOIN also matches channels
        # that never broadcast.
        return self.filter(
            pk__in=Broadcast.objects.filter(ended_at__isnull=True).values("channel_id")
        )

    def with_live_state(self) -> "ChannelQuerySet":
        """Each channel with .live_since (None when offline) and .last_live_at."""
        broadcasts = Broadcast.objects.filter(channel=models.OuterRef("pk"))
        live = broadcasts.filter(ended_at__isnull=True).order_by("-started_at")
        ended = broadcasts.filter(ended_at__isnull=False).order_by("-ended_at")
        return self.annotate(
            live_since=models.Subquery(live.values("started_at")[:1]),
            last_live_at=models.Subquery(ended.values("ended_at")[:1]),
        )

    def with_follower_count(self) -> "ChannelQuerySet":
        """Each channel with .follower_count."""
        # A subquery, not Count("follows"): a filter that joins follows (the channels
        # one user follows, say) would narrow that count to the one follow it matched.
        followers = (
            Follow.objects.filter(channel=models.OuterRef("pk"))
            .order_by()
            .values("channel")
            .annotate(count=models.Count("pk"))
            .values("count")
        )
        return self.annotate(follower_count=Coalesce(models.Subquery(followers), 0))

    def with_key(self, key: str) -> "ChannelQuerySet":
        # Look keys up by digest: the comparison the database makes then leaks
        # nothing about how much of a guessed key was right.
        return self.filter(stream_key_digest=stream_key_digest(key))


class Channel(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel"
    )
    stream_key = models.CharField(max_length=64, editable=False)
    stream_key_digest = models.CharField(max_length=64, unique=True, editable=False)
    title = models.CharField(max_length=140, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="channels"
    )
    latency_mode = models.CharField(
        max_length=10,
        choices=LatencyMode.choices,
        default=LatencyMode.LOW,
        help_text="The keyframe interval the streamer means to send: the dashboard's coaching.",
    )
    streaming_banned = models.BooleanField(
        default=False, help_text="Banned channels cannot go live; a live broadcast is dropped."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("streams:channel", args=[self.name])

    @property
    def name(self) -> str:
        return self.user.username

    def set_stream_key(self, key: str) -> None:
        self.stream_key = key
        self.stream_key_digest = stream_key_digest(key)

    @property
    def live_broadcast(self) -> "Broadcast | None":
        return self.broadcasts.filter(ended_at__isnull=True).order_by("-started_at").first()

    @property
    def hls_urls(self) -> list[str]:
        """Where players may fetch the live playlist: every edge (ECHO_HLS_EDGE_URLS), or
        the site's own /hls/. The player takes one and moves to the next when it fails."""
        bases = settings.ECHO_HLS_EDGE_URLS or [settings.ECHO_HLS_URL]
        return [f"{base}{self.name}.m3u8" for base in bases]

    @property
    def hls_url(self) -> str:
        return self.hls_urls[0]


class TranscodeState(models.TextChoices):
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    RESTARTING = "restarting", "Restarting"
    CAPPED = "capped", "Source only: transcoding limit reached"
    SOURCE = "source", "Source only: nothing smaller to make"
    BEHIND = "behind", "Source only: the transcoder fell behind real time"
    STOPPED = "stopped", "Stopped"


class Broadcast(models.Model):
    class EndReason(models.TextChoices):
        PUBLISHER_DONE = "publisher_done", "Streamer stopped"
        KEY_ROTATED = "key_rotated", "Stream key rotated"
        BANNED = "banned", "Banned by staff"
        STAFF = "staff", "Ended by staff"
        LOST = "lost", "Connection lost"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="broadcasts")
    title = models.CharField(max_length=140, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="broadcasts"
    )
    client_id = models.CharField(
        max_length=32, blank=True, help_text="nginx-rtmp's id of the publishing connection."
    )
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    segment_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Newest HLS segment's length: in practice the encoder's keyframe interval.",
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    peak_viewers = models.PositiveIntegerField(
        default=0, help_text="Most players watching at once (folded in on nginx's heartbeats)."
    )
    # Renditions (streams/media/renditions.py): what the broadcast's transcoder reports.
    transcode_state = models.CharField(
        max_length=12,
        choices=TranscodeState.choices,
        blank=True,
        help_text="Renditions: empty while no transcoder asked (renditions off).",
    )
    transcode_levels = models.CharField(
        max_length=100, blank=True, help_text="The levels in the master playlist now."
    )
    transcode_speed = models.FloatField(
        null=True,
        blank=True,
        help_text="Media seconds transcoded per second (last 20 s): below 1.0 it falls behind.",
    )
    transcode_restarts = models.PositiveIntegerField(default=0)
    transcode_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="The transcoder's last report."
    )
    followers_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the go-live e-mails to followers were sent (or skipped): at most once.",
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["channel", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.channel.name} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    @property
    def fragment_mode(self) -> LatencyMode | None:
        """The latency mode the measured fragment length fits (None: neither, or no
        measurement yet)."""
        return mode_of_fragments(self.segment_seconds)

    @property
    def keyframe_interval_too_long(self) -> bool:
        """Measured, and fits neither mode: longer keyframe intervals than either."""
        return self.segment_seconds is not None and self.fragment_mode is None

    @property
    def duration(self):
        return (self.ended_at or timezone.now()) - self.started_at


# Models of the rooms inside streams/ belong to this app (its app label and migrations).
from streams.chat.models import (  # noqa: E402, F401
    ChatMessage,
    ChatModerator,
    ChatRestriction,
    ChatSettings,
)
from streams.replays.models import Clip, Recording, Replay, ReplaySettings  # noqa: E402, F401
from streams.social.models import Follow  # noqa: E402, F401
