from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse

from accounts.validators import username_validators


class User(AbstractUser):
    username = models.CharField(
        "username",
        max_length=25,
        unique=True,
        validators=username_validators,
        help_text="Your public channel name: 3-25 lowercase letters, digits, _ or -.",
        error_messages={"unique": "A user with that username already exists."},
    )
    display_name = models.CharField(
        max_length=50, blank=True, help_text="Shown instead of the username where space allows."
    )
    bio = models.TextField(max_length=300, blank=True, help_text="A few words about you.")

    class Meta:
        ordering = ["username"]
        verbose_name = "user"

    def __str__(self) -> str:
        return self.username

    def get_absolute_url(self) -> str:
        return reverse("streams:channel", args=[self.username])

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
