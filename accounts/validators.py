"""Usernames are public channel names: /<username>, /hls/<username>.m3u8."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

USERNAME_PATTERN = r"^[a-z0-9_-]{3,25}\Z"

# First path segments that routes (or nginx) own, plus names that would mislead viewers.
RESERVED_USERNAMES = frozenset(
    """
    about account accounts admin administrator api app apps assets auth browse c
    categories category channel channels dashboard directory docs echo echotv
    embed favicon.ico feed follow followers following help hls home index internal
    live login logout media me moderator new null password popular privacy
    robots.txt root rtmp search settings signup static staff stat stats status
    stream streams support system terms thumbnails thumbs undefined unsubscribe
    user users video videos viewers watch www clip clips replay replays _replay_files
    """.split()
)

validate_username_format = RegexValidator(
    USERNAME_PATTERN,
    message="Use 3-25 characters: lowercase letters, digits, underscores (_) and hyphens (-).",
    code="invalid_username",
)


def validate_username_not_reserved(value: str) -> None:
    if value.lower() in RESERVED_USERNAMES:
        raise ValidationError(
            "The name %(value)s is reserved. Please choose another.",
            code="reserved_username",
            params={"value": value},
        )


username_validators = [validate_username_format, validate_username_not_reserved]
