"""The go-live e-mail to followers, and the signed unsubscribe link it carries.

Sent by streams.social.services.broadcasts_notify_followers from the reconcile loop, never from a
request. The unsubscribe token signs (follower id, channel id) with SECRET_KEY: it
needs no login and no table, and stays valid until the follower unfollows.
"""

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from streams import selectors
from streams.models import Broadcast, Follow

UNSUBSCRIBE_SALT = "streams.follow.unsubscribe"
# One SMTP connection carries the mails of this many followers.
BATCH_SIZE = 100


def unsubscribe_token(*, user_id: int, channel_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object([user_id, channel_id])


def unsubscribe_token_read(token: str) -> tuple[int, int] | None:
    """(user id, channel id) of a valid token, else None."""
    try:
        user_id, channel_id = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or not isinstance(channel_id, int):
        return None
    return user_id, channel_id


def unsubscribe_url(follow: Follow) -> str:
    token = unsubscribe_token(user_id=follow.user_id, channel_id=follow.channel_id)
    path = reverse("streams:unsubscribe", args=[follow.channel.name, token])
    return settings.SITE_URL + path


def _go_live_message(broadcast: Broadcast, follow: Follow) -> EmailMessage:
    channel = broadcast.channel
    unsubscribe = unsubscribe_url(follow)
    context = {
        "streamer": channel.user.public_name,
        "title": broadcast.title,
        "category": broadcast.category.name if broadcast.category else "",
        "channel_url": settings.SITE_URL + channel.get_absolute_url(),
        "unsubscribe_url": unsubscribe,
        "site_name": settings.SITE_NAME,
    }
    subject = render_to_string("streams/email/go_live_subject.txt", context)
    body = render_to_string("streams/email/go_live_message.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        to=[follow.user.email],
        headers={
            # RFC 8058: the mail client's own "Unsubscribe" button, one click, no page.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def go_live_send(*, broadcast: Broadcast) -> int:
    """Mail every follower of the broadcast's channel who wants it; returns mails sent."""
    follows = selectors.follow_list_to_notify(channel=broadcast.channel)
    sent = 0
    batch: list[EmailMessage] = []
    for follow in follows.iterator(chunk_size=BATCH_SIZE):
        batch.append(_go_live_message(broadcast, follow))
        if len(batch) == BATCH_SIZE:
            sent += get_connection().send_messages(batch) or 0
            batch = []
    if batch:
        sent += get_connection().send_messages(batch) or 0
    return sent
