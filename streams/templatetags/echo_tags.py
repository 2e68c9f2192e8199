import hashlib
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A short human duration: "45 s", "12 min", "2 h 05 min"."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@register.filter
def hue(value: str) -> int:
    """A stable colour hue (0-359) for a name, for placeholder artwork."""
    return int(hashlib.md5(str(value).encode(), usedforsecurity=False).hexdigest()[:4], 16) % 360


@register.filter
def live_for(started_at: datetime | None) -> str:
    """ "live for 12 min", the same words static/js/echo.js keeps current."""
    if started_at is None:
        return ""
    minutes = int((timezone.now() - started_at).total_seconds() // 60)
    if minutes < 1:
        return "live for less than a minute"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"live for {minutes} min"
    return f"live for {hours} h {rest} min" if rest else f"live for {hours} h"


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "2 days ago"."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"


@register.filter
def viewers(count: int | None) -> str:
    """ "1 viewer", "1,204 viewers": the same words static/js/viewers.js writes; nothing
    when the count is unknown (None: Redis does not answer)."""
    if count is None:
        return ""
    return f"{count:,} viewer" + ("" if count == 1 else "s")


@register.filter
def seconds(value: float | None) -> str:
    """A replay's or clip's length as a player shows it: "0:45", "12:03", "1:02:03"."""
    if value is None:
        return ""
    total = max(0, int(round(value)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
