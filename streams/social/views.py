"""Following channels: the follow buttons, /following/, and the go-live e-mail's unsubscribe page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from streams import selectors
from streams.models import Channel, Follow
from streams.social import emails
from streams.social import services as social_services


def _back(request: HttpRequest, channel: Channel) -> HttpResponse:
    """Back to the page the button was on (its `next` field), else the channel page."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = channel.get_absolute_url()
    return redirect(target)


@login_required
@require_POST
def follow(request: HttpRequest, username: str) -> HttpResponse:
    channel = selectors.channel_get(name=username)
    try:
        social_services.channel_follow(user=request.user, channel=channel)
    except social_services.CannotFollow as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request, f"You follow {channel.user.public_name}: we’ll e-mail you when they go live."
        )
    return _back(request, channel)


@login_required
@require_POST
def unfollow(request: HttpRequest, username: str) -> HttpResponse:
    channel = selectors.channel_get(name=username)
    if social_services.channel_unfollow(user=request.user, channel=channel):
        messages.success(request, f"You no longer follow {channel.user.public_name}.")
    return _back(request, channel)


@login_required
@require_POST
def follow_emails(request: HttpRequest, username: str) -> HttpResponse:
    """Turn the go-live e-mails for one followed channel on or off."""
    channel = selectors.channel_get(name=username)
    notify = request.POST.get("notify") == "on"
    if social_services.follow_set_notify(
        user_id=request.user.pk, channel_id=channel.pk, notify=notify
    ):
        if notify:
            messages.success(
                request, f"We’ll e-mail you when {channel.user.public_name} goes live."
            )
        else:
            messages.success(request, f"No more e-mails when {channel.user.public_name} goes live.")
    return _back(request, channel)


@login_required
def following(request: HttpRequest) -> HttpResponse:
    channels = selectors.channel_list_followed(user=request.user)
    return render(request, "streams/following.html", {"channels": channels})


# The token is the permission, so no login and no CSRF token: mail clients POST here
# themselves for RFC 8058 one-click unsubscribe. A GET only shows the button, because
# mail scanners open every link in a message.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, username: str, token: str) -> HttpResponse:
    channel = selectors.channel_get(name=username)
    ids = emails.unsubscribe_token_read(token)
    if ids is None or ids[1] != channel.pk:
        return render(request, "streams/unsubscribe.html", {"channel": channel}, status=404)
    user_id, channel_id = ids
    follow = Follow.objects.filter(user_id=user_id, channel_id=channel_id).first()
    if request.method == "POST" and follow is not None:
        social_services.follow_set_notify(user_id=user_id, channel_id=channel_id, notify=False)
        follow.notify_by_email = False
    context = {"channel": channel, "follow": follow, "valid": True}
    return render(request, "streams/unsubscribe.html", context)
