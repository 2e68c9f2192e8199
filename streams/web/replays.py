"""Pages of past broadcasts and clips, their files (through nginx), and the owner's and
viewers' forms. Every change goes through streams.replays.services; reads through
streams.replays.selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from streams import selectors as core_selectors
from streams.api.throttles import ClipRateThrottle
from streams.models import Channel
from streams.replays import clips, selectors, services
from streams.replays.models import Clip, Replay

FILE_TYPES = {"mp4": "video/mp4", "jpg": "image/jpeg"}
TITLE_DRAFT = "echo-replay-title-draft"


def replays_context(request: HttpRequest, channel: Channel) -> dict:
    """What the channel page shows of past broadcasts and clips, and the live clip form."""
    return {
        "past": selectors.past_broadcasts(channel=channel, user=request.user, limit=12),
        "clips": selectors.clip_list(channel=channel, user=request.user, limit=12),
        "clippable": selectors.recording_now(channel) is not None,
        "clip_draft": clip_draft(request),
    }


def replay(request: HttpRequest, username: str, replay_id: int) -> HttpResponse:
    replay = selectors.replay_get(channel_name=username, replay_id=replay_id, user=request.user)
    owner = request.user.is_authenticated and request.user.pk == replay.channel.user_id
    context = {
        "replay": replay,
        "channel": replay.channel,
        "broadcast": replay.broadcast,
        "is_owner": owner,
        "can_remove": owner or request.user.is_staff,
        "chat": selectors.replay_chat(replay) if replay.status == Replay.Status.READY else [],
        "title_draft": request.session.pop(TITLE_DRAFT, None),
        "clips": [c for c in replay.clips.all() if selectors.clip_visible(c, request.user)],
        "clip_min": clips.CLIP_MIN_SECONDS,
        "clip_max": clips.CLIP_MAX_SECONDS,
        "clip_draft": clip_draft(request),
    }
    response = render(request, "streams/replay.html", context)
    response["Cache-Control"] = "private, no-cache"
    return response


def clip(request: HttpRequest, slug: str) -> HttpResponse:
    clip = selectors.clip_get(slug=slug, user=request.user)
    context = {
        "clip": clip,
        "channel": clip.channel,
        "share_url": request.build_absolute_uri(clip.get_absolute_url()),
        "can_remove": request.user.is_authenticated
        and (
            request.user.is_staff or request.user.pk in (clip.channel.user_id, clip.created_by_id)
        ),
    }
    return render(request, "streams/clip.html", context)


def clip_status(request: HttpRequest, slug: str) -> JsonResponse:
    clip = selectors.clip_get(slug=slug, user=request.user)
    response = JsonResponse({"status": clip.status, "duration": clip.duration})
    response["Cache-Control"] = "no-store"
    return response


def media_file(request: HttpRequest, token: str, ext: str) -> HttpResponse:
    """A replay's or clip's MP4 or thumbnail: who may see it is decided here, on every
    request (ranges included), and nginx sends the bytes (X-Accel-Redirect to an internal
    location). Hidden, deleted or banned: 404 at once, even mid-playback."""
    owner = selectors.file_owner(token)
    if owner is None or ext not in FILE_TYPES:
        raise Http404("No such file")
    if isinstance(owner, Replay):
        if not selectors.replay_visible(owner, request.user) or owner.status != Replay.Status.READY:
            raise Http404("No such file")
        services.replay_watched(token)
    elif not selectors.clip_visible(owner, request.user) or owner.status != Clip.Status.READY:
        raise Http404("No such file")
    response = HttpResponse(content_type=FILE_TYPES[ext])
    response["X-Accel-Redirect"] = f"/_replay_files/{token}.{ext}"
    return response


# --- the owner's changes ------------------------------------------------------------


def _managed_replay(request: HttpRequest, username: str, replay_id: int) -> Replay:
    replay = selectors.replay_get(channel_name=username, replay_id=replay_id, user=request.user)
    if request.user.pk != replay.channel.user_id and not request.user.is_staff:
        raise Http404("No such replay")
    return replay


@login_required
@require_POST
def replay_edit(request: HttpRequest, username: str, replay_id: int) -> HttpResponse:
    replay = _managed_replay(request, username, replay_id)
    if request.user.pk != replay.channel.user_id:
        raise Http404("No such replay")  # staff remove; only the owner renames or hides
    if "title" in request.POST:
        title = request.POST["title"].strip()
        if len(title) > 140:
            messages.error(request, "A title is at most 140 characters; nothing was changed.")
            request.session[TITLE_DRAFT] = title
            return redirect(replay)
        services.replay_update(replay=replay, title=title)
        messages.success(request, "Title saved.")
    if "hidden" in request.POST:
        hidden = request.POST["hidden"] == "1"
        services.replay_update(replay=replay, hidden=hidden)
        messages.success(request, "Hidden: only you can see it." if hidden else "Visible to all.")
    return redirect(replay)


@login_required
@require_POST
def replay_delete(request: HttpRequest, username: str, replay_id: int) -> HttpResponse:
    replay = _managed_replay(request, username, replay_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm: a deleted replay cannot come back.")
        return redirect(replay)
    channel = replay.channel
    services.replay_delete(replay=replay)
    messages.success(request, "The replay and its files were deleted.")
    return redirect(channel)


@login_required
@require_POST
def clip_delete(request: HttpRequest, slug: str) -> HttpResponse:
    clip = selectors.clip_get(slug=slug, user=request.user)
    if (
        request.user.pk not in (clip.channel.user_id, clip.created_by_id)
        and not request.user.is_staff
    ):
        raise Http404("No such clip")
    channel = clip.channel
    clips.clip_delete(clip=clip)
    messages.success(request, "The clip was deleted.")
    return redirect(channel)


@login_required
@require_POST
def recording_setting(request: HttpRequest) -> HttpResponse:
    channel = core_selectors.channel_of_user(user=request.user)
    enabled = request.POST.get("recording_enabled") == "1"
    services.replay_settings_update(channel=channel, recording_enabled=enabled)
    messages.success(
        request,
        "Your broadcasts are recorded." if enabled else "Recording is off for your channel.",
    )
    return redirect("streams:dashboard")


# --- clips --------------------------------------------------------------------------


def _number(value: str, default: float | None) -> float | None:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        raise clips.ClipRefused("Lengths and times are numbers of seconds.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise clips.ClipRefused("Lengths and times are numbers of seconds.")
    return number


@login_required
@require_POST
def clip_create(request: HttpRequest, username: str, replay_id: int | None = None) -> HttpResponse:
    """Clip the last seconds of the live broadcast, or a span of a replay."""
    channel = core_selectors.channel_get(name=username)
    replay = None
    if replay_id is not None:
        replay = selectors.replay_get(channel_name=username, replay_id=replay_id, user=request.user)
    back = replay.get_absolute_url() if replay else channel.get_absolute_url()
    throttle = ClipRateThrottle()
    if not throttle.allow_request(request, None):
        messages.error(
            request, f"You are making clips too fast: try again in {int(throttle.wait() or 1)} s."
        )
        return redirect(back)
    try:
        length = _number(request.POST.get("length"), clips.CLIP_DEFAULT_SECONDS)
        start = _number(request.POST.get("start"), None)
        broadcast = replay.broadcast if replay else channel.live_broadcast
        if broadcast is None:
            raise clips.ClipRefused("The channel is offline: clip one of its past broadcasts.")
        clip = clips.clip_create(
            user=request.user,
            broadcast=broadcast,
            replay=replay,
            title=request.POST.get("title", ""),
            length=length,
            start=start,
        )
    except clips.ClipRefused as refused:
        messages.error(request, str(refused))
        # The form shows again with what was typed (clip_draft()).
        request.session[DRAFT] = {
            "title": request.POST.get("title", "")[:140],
            "length": request.POST.get("length", "")[:10],
            "start": request.POST.get("start", "")[:20],
        }
        return redirect(back)
    return redirect(clip)


DRAFT = "echo-clip-draft"


def clip_draft(request: HttpRequest) -> dict:
    """A refused clip request's fields, once, for the form that shows the reason."""
    draft = {"title": "", "length": "", "start": ""}
    if hasattr(request, "session"):
        draft.update(request.session.pop(DRAFT, None) or {})
    return draft
