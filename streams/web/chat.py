"""The dashboard's chat section: the streamer appoints and removes moderators and lifts
timeouts and bans. Plain forms; every change goes through streams.chat.services, which
also tells connected chat clients."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from streams import selectors
from streams.chat import services
from streams.chat.models import ChatModerator, ChatRestriction
from streams.models import Channel


def chat_context(channel: Channel) -> dict:
    """What the dashboard shows of its channel's chat."""
    return {
        "chat_moderators": ChatModerator.objects.filter(channel=channel).select_related("user"),
        "chat_restrictions": ChatRestriction.objects.active()
        .filter(channel=channel)
        .select_related("user"),
    }


def _named(name: str):
    return get_user_model().objects.filter(username=name.strip().lstrip("@")).first()


def _back() -> HttpResponse:
    return redirect(reverse("streams:dashboard") + "#chat-moderators-heading")


def _run(request: HttpRequest, action, success: str, **kwargs) -> HttpResponse:
    try:
        done = action(
            channel=selectors.channel_of_user(user=request.user), by=request.user, **kwargs
        )
    except (services.ChatDenied, services.ChatInvalid) as refused:
        messages.error(request, str(refused))
        return _back()
    if done is False:
        messages.info(request, "Nothing to change.")
    else:
        messages.success(request, success)
    return _back()


@login_required
@require_POST
def moderator_add(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("username", "")[:150]
    user = _named(name) if name.strip() else None
    if user is None:
        messages.error(
            request, f"No user named “{name.strip()}”." if name.strip() else "Type a username."
        )
        return _back()
    return _run(
        request, services.moderator_add, f"{user.username} now moderates your chat.", user=user
    )


def _about_user(request: HttpRequest, username: str, action, success: str) -> HttpResponse:
    user = _named(username)
    if user is None:
        messages.error(request, f"No user named “{username}”.")
        return _back()
    return _run(request, action, success.format(name=user.username), user=user)


@login_required
@require_POST
def moderator_remove(request: HttpRequest, username: str) -> HttpResponse:
    return _about_user(request, username, services.moderator_remove, "{name} no longer moderates.")


@login_required
@require_POST
def restriction_lift(request: HttpRequest, username: str) -> HttpResponse:
    return _about_user(request, username, services.restriction_lift, "{name} may chat again.")
