import json
import random

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from echo.client import client_address
from streams import latency, selectors, services
from streams.chat.models import MAX_MESSAGE_LENGTH
from streams.latency import MODES
from streams.media import renditions
from streams.models import Category, Follow
from streams.replays.services import recording_enabled
from streams.social import viewers
from streams.web.chat import chat_context
from streams.web.forms import ChannelSettingsForm, LatencyModeForm, RotateKeyForm
from streams.web.replays import replays_context

FOLLOWING_ON_DIRECTORY = 8
SEARCH_RESULTS = 50
SEARCH_MAX_LENGTH = 100


def _directory(request: HttpRequest, *, category: Category | None) -> HttpResponse:
    context = {
        "channels": selectors.channel_list_live(category=category.slug if category else None),
        "categories": selectors.category_list_with_live(),
        "current_category": category,
        "following": None,
    }
    if request.user.is_authenticated and category is None:
        context["following"] = selectors.channel_list_followed(
            user=request.user, limit=FOLLOWING_ON_DIRECTORY
        )
    return render(request, "streams/directory.html", context)


def directory(request: HttpRequest) -> HttpResponse:
    slug = request.GET.get("category")
    category = get_object_or_404(Category, slug=slug) if slug else None
    return _directory(request, category=category)


def category(request: HttpRequest, slug: str) -> HttpResponse:
    return _directory(request, category=get_object_or_404(Category, slug=slug))


def channel(request: HttpRequest, username: str) -> HttpResponse:
    channel = selectors.channel_get(name=username, stats=True)
    follow = None
    if request.user.is_authenticated:
        follow = Follow.objects.filter(user=request.user, channel=channel).first()
    context = {
        "channel": channel,
        "broadcast": channel.live_broadcast,
        "past_broadcasts": channel.broadcasts.filter(ended_at__isnull=False)[:10],
        "viewers": channel.viewers,
        "follower_count": channel.follower_count,
        "follow": follow,
        "chat_max_length": MAX_MESSAGE_LENGTH,
        # Viewers spread over the edges: each page lists them in its own order.
        "hls_urls": random.sample(channel.hls_urls, len(channel.hls_urls)),
        **replays_context(request, channel),
    }
    return render(request, "streams/channel.html", context)


def channel_status(request: HttpRequest, username: str) -> JsonResponse:
    """What the player polls: is the channel live, and where its playlist is."""
    channel = selectors.channel_get(name=username)
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
            # The newest fragment's length as of nginx's last heartbeat (every 10 s):
            # the dashboard's coaching follows it without a reload.
            "segment_seconds": broadcast.segment_seconds if broadcast else None,
            "hls_url": channel.hls_url,
            "hls_urls": channel.hls_urls,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    channel = selectors.channel_of_user(user=request.user)
    broadcast = channel.live_broadcast
    measured = broadcast.segment_seconds if broadcast else None
    form = ChannelSettingsForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        services.channel_settings_update(
            channel=channel,
            title=form.cleaned_data["title"],
            category=form.cleaned_data["category"],
        )
        messages.success(request, "Stream settings saved.")
        return redirect("streams:dashboard")
    context = {
        "channel": channel,
        "form": form,
        "rotate_form": RotateKeyForm(),
        "latency_form": LatencyModeForm(instance=channel),
        "modes": MODES,
        "chosen_mode": MODES[channel.latency_mode],
        "measured_seconds": measured,
        "fragment_fit": latency.fit(channel.latency_mode, measured),
        "broadcast": broadcast,
        "rtmp_url": settings.ECHO_RTMP_PUBLIC_URL,
        "rtmps_url": settings.ECHO_RTMPS_PUBLIC_URL,
        "recent_broadcasts": channel.broadcasts.select_related("category")[:10],
        **chat_context(channel),
        "recording_enabled": recording_enabled(channel),
        "renditions": {
            "ladder": [f"{height}p{fps}" for height, fps, _ in settings.ECHO_RENDITIONS],
            "on": bool(settings.ECHO_RENDITIONS) and settings.ECHO_TRANSCODE_MAX > 0,
            "state": broadcast.transcode_state if broadcast else "",
            "levels": renditions.level_labels(broadcast) if broadcast else [],
        },
    }
    response = render(request, "streams/dashboard.html", context)
    # The page holds the stream key.
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@require_POST
def latency_mode(request: HttpRequest) -> HttpResponse:
    channel = selectors.channel_of_user(user=request.user)
    form = LatencyModeForm(request.POST, instance=channel)
    if form.is_valid():
        services.channel_settings_update(
            channel=channel, latency_mode=form.cleaned_data["latency_mode"]
        )
        messages.success(request, f"Latency set to “{channel.get_latency_mode_display()}”.")
    else:
        messages.error(request, "Choose one of the two latency settings.")
    return redirect("streams:dashboard")


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
    services.stream_key_rotate(channel=selectors.channel_of_user(user=request.user))
    messages.success(
        request, "Your stream key was replaced. Paste the new key into OBS to go live again."
    )
    return redirect("streams:dashboard")


def search(request: HttpRequest) -> HttpResponse:
    """Channels by name (username or display name) or title, live ones first."""
    query = " ".join(request.GET.get("q", "").split())[:SEARCH_MAX_LENGTH]
    results = selectors.channel_search(query=query, limit=SEARCH_RESULTS) if query else []
    return render(request, "streams/search.html", {"query": query, "results": results})


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def viewer_heartbeat(request: HttpRequest, username: str) -> JsonResponse:
    """A playing player says it is still watching (or, with "leaving", that it stopped).

    No CSRF token: anonymous viewers have no session, and the beat changes nothing but
    a count. It is still same-origin only: the body must be JSON, which a cross-site
    form cannot send and a cross-site script can send only after a CORS preflight this
    site never grants; browsers that label requests must label it same-origin.
    """
    if request.content_type != "application/json":
        return _no_store(JsonResponse({"error": "send JSON"}, status=415))
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return _no_store(JsonResponse({"error": "cross-site"}, status=403))
    client = client_address(request)
    if not viewers.heartbeat_allowed(client):
        return _no_store(JsonResponse({"error": "too many heartbeats"}, status=429))
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > 200:
            raise ValueError("too long")
        beat = json.loads(request.body)
        viewer_id = beat["viewer"]
        leaving = beat.get("leaving", False) is True
        if not isinstance(viewer_id, str) or not viewers.VIEWER_ID.match(viewer_id):
            raise ValueError("bad viewer id")
    except (ValueError, TypeError, KeyError, AttributeError):
        return _no_store(JsonResponse({"error": "malformed heartbeat"}, status=400))
    if not viewers.CHANNEL_NAME.match(username) or not viewers.channel_is_live(username):
        return _no_store(JsonResponse({"live": False, "viewers": 0}, status=404))
    if leaving:
        viewers.viewer_left(username, viewer_id=viewer_id, client=client)
    else:
        viewers.viewer_seen(username, viewer_id=viewer_id, client=client)
    return _no_store(JsonResponse({"live": True, "viewers": viewers.viewer_count(username)}))
