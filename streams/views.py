from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import services
from streams.forms import ChannelSettingsForm, RotateKeyForm
from streams.models import Broadcast, Channel


def _live_channels() -> list[Channel]:
    """Live channels, newest broadcast first, each with its open broadcast as .live_since."""
    # Start from the open broadcasts rather than Channel.objects.live(): one query
    # gives each channel with the time it went live.
    broadcasts = (
        Broadcast.objects.filter(ended_at__isnull=True)
        .select_related("channel__user", "channel__category")
        .order_by("-started_at")
    )
    channels: dict[int, Channel] = {}
    for broadcast in broadcasts:
        if broadcast.channel_id not in channels:
            broadcast.channel.live_since = broadcast.started_at
            channels[broadcast.channel_id] = broadcast.channel
    return list(channels.values())


def directory(request: HttpRequest) -> HttpResponse:
    return render(request, "streams/directory.html", {"channels": _live_channels()})


def _channel_or_404(username: str) -> Channel:
    return get_object_or_404(
        Channel.objects.select_related("user", "category"), user__username=username
    )


def channel(request: HttpRequest, username: str) -> HttpResponse:
    channel = _channel_or_404(username)
    context = {
        "channel": channel,
        "broadcast": channel.live_broadcast,
        "past_broadcasts": channel.broadcasts.filter(ended_at__isnull=False)[:10],
    }
    return render(request, "streams/channel.html", context)


def channel_status(request: HttpRequest, username: str) -> JsonResponse:
    """What the player polls: is the channel live, and where its playlist is."""
    channel = _channel_or_404(username)
    broadcast = channel.live_broadcast
    response = JsonResponse(
        {
            "channel": channel.name,
            "live": broadcast is not None,
            # The channel's title, not the broadcast's snapshot: a title edited
            # mid-stream shows at once, as it does on the pages.
            "title": channel.title,
            "category": channel.category.name if channel.category else None,
            "started_at": broadcast.started_at.isoformat() if broadcast else None,
            "hls_url": channel.hls_url,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def _own_channel(request: HttpRequest) -> Channel:
    try:
        return request.user.channel
    except Channel.DoesNotExist:
        # Users created before the post_save signal existed (or loaded from fixtures).
        return services.channel_create(user=request.user)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    channel = _own_channel(request)
    form = ChannelSettingsForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Stream settings saved.")
        return redirect("streams:dashboard")
    context = {
        "channel": channel,
        "form": form,
        "rotate_form": RotateKeyForm(),
        "broadcast": channel.live_broadcast,
        "rtmp_url": settings.ECHO_RTMP_PUBLIC_URL,
        "recent_broadcasts": channel.broadcasts.select_related("category")[:10],
    }
    response = render(request, "streams/dashboard.html", context)
    # The page holds the stream key.
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@require_POST
def rotate_key(request: HttpRequest) -> HttpResponse:
    form = RotateKeyForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            "Your stream key was not changed: tick the box to confirm that the old key "
            "stops working.",
        )
        return redirect("streams:dashboard")
    services.stream_key_rotate(channel=_own_channel(request))
    messages.success(
        request, "Your stream key was replaced. Paste the new key into OBS to go live again."
    )
    return redirect("streams:dashboard")
