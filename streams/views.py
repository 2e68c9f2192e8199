from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import services
from streams.forms import ChannelSettingsForm
from streams.models import Broadcast, Channel


def _live_channels():
    return (
        Channel.objects.live()
        .select_related("user", "category")
        .prefetch_related(
            Prefetch(
                "broadcasts",
                queryset=Broadcast.objects.filter(ended_at__isnull=True),
                to_attr="open_broadcasts",
            )
        )
    )


def directory(request: HttpRequest) -> HttpResponse:
    channels = sorted(
        _live_channels(), key=lambda channel: channel.open_broadcasts[0].started_at, reverse=True
    )
    return render(request, "streams/directory.html", {"channels": channels})


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
            "title": broadcast.title if broadcast else channel.title,
            "started_at": broadcast.started_at.isoformat() if broadcast else None,
            "hls_url": channel.hls_url,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    channel = request.user.channel
    form = ChannelSettingsForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Stream settings saved.")
        return redirect("streams:dashboard")
    context = {
        "channel": channel,
        "form": form,
        "broadcast": channel.live_broadcast,
        "rtmp_url": settings.ECHO_RTMP_PUBLIC_URL,
        "recent_broadcasts": channel.broadcasts.all()[:10],
    }
    response = render(request, "streams/dashboard.html", context)
    # The page holds the stream key.
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@require_POST
def rotate_key(request: HttpRequest) -> HttpResponse:
    services.stream_key_rotate(channel=request.user.channel)
    messages.success(
        request, "Your stream key was replaced. Paste the new key into OBS to go live again."
    )
    return redirect("streams:dashboard")


