from django.conf import settings
from django.db import models
from django.utils import timezone

from streams.models import Channel


class Follow(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows"
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="follows")
    notify_by_email = models.BooleanField(
        default=True, help_text="E-mail the follower when the channel goes live."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "channel"], name="follow_once_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.user} follows {self.channel}"

    def get_absolute_url(self) -> str:
        return self.channel.get_absolute_url()
