import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from streams.models import Broadcast, Channel

TITLE_LENGTH = 140


def file_token() -> str:
    # The name of a replay's or clip's files: unguessable, so nothing about the channel,
    # the broadcast or a key can be read from it.
    return secrets.token_urlsafe(18)


def clip_slug() -> str:
    return secrets.token_urlsafe(8)


class ReplaySettings(models.Model):
    """A channel's choice about recording (absent: recorded)."""

    channel = models.OneToOneField(
        Channel, on_delete=models.CASCADE, related_name="replay_settings"
    )
    recording_enabled = models.BooleanField(
        default=True, help_text="Record broadcasts and keep them as past broadcasts."
    )

    class Meta:
        verbose_name_plural = "replay settings"

    def __str__(self) -> str:
        return f"replay settings of {self.channel}"


class Recording(models.Model):
    """One FLV file nginx-rtmp wrote (a broadcast has several if recording paused)."""

    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        DONE = "done", "Done"
        PAUSED = "paused", "Not recording: low disk space"

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recordings")
    path = models.CharField(
        max_length=500, blank=True, db_index=True, help_text="The FLV file nginx writes."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECORDING)
    note = models.CharField(max_length=300, blank=True, help_text="Why it paused or ended.")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["broadcast", "started_at", "pk"]

    def __str__(self) -> str:
        return f"recording of {self.broadcast} ({self.get_status_display()})"


class ReplayQuerySet(models.QuerySet):
    def public(self) -> "ReplayQuerySet":
        """What anyone may see: ready, not hidden, of a channel allowed to stream."""
        return self.filter(
            status=Replay.Status.READY,
            hidden=False,
            channel__streaming_banned=False,
            channel__user__is_active=True,
        )


class Replay(models.Model):
    """A past broadcast, playable and seekable: one MP4 (+faststart) and a thumbnail."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    broadcast = models.OneToOneField(Broadcast, on_delete=models.CASCADE, related_name="replay")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="replays")
    title = models.CharField(max_length=TITLE_LENGTH, blank=True)
    token = models.CharField(max_length=32, unique=True, default=file_token, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    hidden = models.BooleanField(default=False, help_text="Hidden replays are 404 for others.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    size_bytes = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="The last failure of its job.")
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    objects = ReplayQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["channel", "status", "hidden"])]

    def __str__(self) -> str:
        return f"{self.title or 'Untitled stream'} ({self.channel.name})"

    def get_absolute_url(self) -> str:
        return reverse("streams:replay", args=[self.channel.name, self.pk])

    @property
    def video_url(self) -> str:
        return reverse("streams:replay-file", args=[self.token, "mp4"])

    @property
    def thumbnail_url(self) -> str:
        return reverse("streams:replay-file", args=[self.token, "jpg"])


class Clip(models.Model):
    """Up to a minute of a live broadcast or a replay, cut without re-encoding."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    slug = models.CharField(max_length=16, unique=True, default=clip_slug, editable=False)
    token = models.CharField(max_length=32, unique=True, default=file_token, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="clips")
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="clips")
    replay = models.ForeignKey(
        Replay, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips"
    )
    title = models.CharField(max_length=TITLE_LENGTH)
    start = models.FloatField(help_text="Seconds into the recording.")
    length = models.FloatField(help_text="Seconds asked for.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds cut (keyframes).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.title} ({self.channel.name})"

    def get_absolute_url(self) -> str:
        return reverse("streams:clip", args=[self.slug])

    @property
    def video_url(self) -> str:
        return reverse("streams:replay-file", args=[self.token, "mp4"])

    @property
    def thumbnail_url(self) -> str:
        return reverse("streams:replay-file", args=[self.token, "jpg"])
