from django.conf import settings
from django.db import models
from django.utils import timezone

from streams.models import Broadcast, Channel

MAX_MESSAGE_LENGTH = 500


class ChatMessage(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="chat_messages")
    broadcast = models.ForeignKey(
        Broadcast,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
        help_text="The broadcast that was live when it was sent (for replays).",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    body = models.CharField(max_length=MAX_MESSAGE_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["channel", "created_at"], name="chat_message_recent")]

    def __str__(self) -> str:
        return f"{self.author} in {self.channel}: {self.body[:40]}"

    def get_absolute_url(self) -> str:
        return self.channel.get_absolute_url()


class ChatModerator(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="chat_moderators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_moderations"
    )
    appointed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["channel", "user"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "user"], name="chat_moderator_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} moderates {self.channel}"


class ChatRestrictionQuerySet(models.QuerySet):
    def active(self, *, now=None) -> "ChatRestrictionQuerySet":
        now = now or timezone.now()
        return self.filter(lifted_at__isnull=True).filter(
            models.Q(until__isnull=True) | models.Q(until__gt=now)
        )


class ChatRestriction(models.Model):
    class Kind(models.TextChoices):
        TIMEOUT = "timeout"
        BAN = "ban"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="chat_restrictions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_restrictions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty for a ban.")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ChatRestrictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["channel", "user"], name="chat_restriction_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.user} in {self.channel}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None and (self.until is None or self.until > timezone.now())


class ChatSettings(models.Model):
    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="chat_settings")
    slow_mode_seconds = models.PositiveSmallIntegerField(
        default=0, help_text="Seconds between two messages of one viewer; 0 is off, at most 120."
    )
    followers_only = models.BooleanField(
        default=False, help_text="Only followers (and the streamer, moderators, staff) may write."
    )
    links_allowed = models.BooleanField(
        default=True, help_text="When off, messages with links from viewers are refused."
    )

    class Meta:
        verbose_name = "chat settings"
        verbose_name_plural = "chat settings"

    def __str__(self) -> str:
        return f"chat settings of {self.channel}"

    def as_dict(self) -> dict:
        return {
            "slow_mode_seconds": self.slow_mode_seconds,
            "followers_only": self.followers_only,
            "links_allowed": self.links_allowed,
        }
