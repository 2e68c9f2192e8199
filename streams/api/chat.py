"""The chat's REST API under /api/channels/<name>/chat/: history (and gap filling after a
reconnect), deleting messages, timeouts and bans, moderators, settings.

Every change goes through streams.chat.services, which also tells connected clients.
A service's refusal keeps its sentence: ChatDenied answers 403, ChatInvalid 400.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams import selectors as channel_selectors
from streams.chat import selectors, services
from streams.chat.models import ChatModerator, ChatRestriction
from streams.chat.services import MAX_SLOW_MODE_SECONDS, TIMEOUT_SECONDS
from streams.models import Channel

USERNAME = OpenApiParameter(
    "username", str, OpenApiParameter.PATH, description="The channel's name."
)
USER = OpenApiParameter("user", str, OpenApiParameter.PATH, description="The user's name.")


# --- serializers ------------------------------------------------------------------


class ChatAuthorSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    color = serializers.CharField(help_text="The name's colour, readable on the chat background.")
    badges = serializers.ListField(
        child=serializers.ChoiceField(["streamer", "moderator", "staff"])
    )


class ChatMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = ChatAuthorSerializer()
    body = serializers.CharField()
    sent_at = serializers.DateTimeField()


class RestrictionCreateSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="The name of the user to restrict.")
    kind = serializers.ChoiceField(ChatRestriction.Kind.values)
    seconds = serializers.IntegerField(
        required=False,
        min_value=TIMEOUT_SECONDS[0],
        max_value=TIMEOUT_SECONDS[1],
        help_text="How long a timeout lasts (60 to 86400); leave out for a ban.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate(self, data: dict) -> dict:
        if data["kind"] == "timeout" and "seconds" not in data:
            raise serializers.ValidationError({"seconds": "A timeout needs seconds (60 to 86400)."})
        if data["kind"] == "ban" and "seconds" in data:
            raise serializers.ValidationError({"seconds": "A ban has no duration; leave it out."})
        return data


class RestrictionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = ChatRestriction
        fields = ["user", "kind", "until", "reason", "created_by", "created_at"]


class ModeratorSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", help_text="The moderator's name.")

    class Meta:
        model = ChatModerator
        fields = ["user", "appointed_at"]
        read_only_fields = ["appointed_at"]


class ChatSettingsSerializer(serializers.Serializer):
    slow_mode_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_SLOW_MODE_SECONDS, required=False
    )
    followers_only = serializers.BooleanField(required=False)
    links_allowed = serializers.BooleanField(required=False)


# --- helpers ----------------------------------------------------------------------


class ReadOrLoggedIn(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or request.user.is_authenticated


class LoggedIn(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated


def _user_named(name: str, *, field: str | None = None):
    user = get_user_model().objects.filter(username=name).first()
    if user is None and field:
        raise exceptions.ValidationError({field: [f"No user named {name!r}."]})
    if user is None:
        raise exceptions.NotFound(f"No user named {name!r}.")
    return user


def _run(action, **kwargs):
    """Call a service; its refusals become 403 or 400 with its own sentence."""
    try:
        return action(**kwargs)
    except services.ChatDenied as denied:
        raise exceptions.PermissionDenied(str(denied)) from None
    except services.ChatInvalid as invalid:
        raise exceptions.ValidationError({"detail": str(invalid)}) from None


def _channel(username: str) -> Channel:
    return channel_selectors.channel_get(name=username)


# --- views ------------------------------------------------------------------------


@extend_schema(
    parameters=[
        USERNAME,
        OpenApiParameter(
            "after",
            int,
            description="Only messages after this id (up to 500), to fill a gap after a reconnect.",
        ),
    ],
    responses=ChatMessageSerializer(many=True),
)
class ChatHistory(APIView):
    """The last 50 chat messages, oldest first (deleted ones left out)."""

    def get(self, request: Request, username: str) -> Response:
        after = request.query_params.get("after")
        if after is not None and not after.isdigit():
            raise exceptions.ValidationError(
                {"after": "after must be a message id (a whole number)."}
            )
        channel = _channel(username)
        return Response(selectors.message_list(channel, after=int(after) if after else None))


@extend_schema(parameters=[USERNAME, OpenApiParameter("id", int, OpenApiParameter.PATH)])
class ChatMessageDelete(APIView):
    """Delete a message for everyone (the streamer, moderators, staff)."""

    permission_classes = [LoggedIn]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str, id: int) -> Response:
        _run(services.message_delete, channel=_channel(username), message_id=id, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[USERNAME])
class ChatRestrictionList(APIView):
    """Active timeouts and bans (GET), or time out or ban a user (POST); the streamer,
    moderators, staff. A timeout or ban also deletes the user's last hour of messages."""

    permission_classes = [LoggedIn]

    @extend_schema(responses=RestrictionSerializer(many=True))
    def get(self, request: Request, username: str) -> Response:
        channel = _channel(username)
        if not selectors.is_moderator(request.user, channel):
            raise exceptions.PermissionDenied("Only the streamer, moderators and staff see this.")
        active = ChatRestriction.objects.active().filter(channel=channel)
        active = active.select_related("user", "created_by")
        return Response(RestrictionSerializer(active, many=True).data)

    @extend_schema(request=RestrictionCreateSerializer, responses={201: RestrictionSerializer})
    def post(self, request: Request, username: str) -> Response:
        channel = _channel(username)
        given = RestrictionCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        restriction = _run(
            services.restriction_create,
            channel=channel,
            user=_user_named(data["user"], field="user"),
            kind=data["kind"],
            seconds=data.get("seconds"),
            reason=data["reason"],
            by=request.user,
        )
        return Response(RestrictionSerializer(restriction).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[USERNAME, USER])
class ChatRestrictionLift(APIView):
    """Lift a user's timeout or ban (the streamer, moderators, staff)."""

    permission_classes = [LoggedIn]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str, user: str) -> Response:
        channel, target = _channel(username), _user_named(user)
        if not _run(services.restriction_lift, channel=channel, user=target, by=request.user):
            raise exceptions.NotFound(f"{target.username} is neither timed out nor banned here.")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _owner_or_staff(request: Request, channel: Channel) -> None:
    if not (request.user.is_staff or request.user.pk == channel.user_id):
        raise exceptions.PermissionDenied("Only the streamer (or staff) manages moderators.")


@extend_schema(parameters=[USERNAME])
class ChatModeratorList(APIView):
    """The chat's moderators (GET), or appoint one (POST); the streamer only."""

    permission_classes = [LoggedIn]

    @extend_schema(responses=ModeratorSerializer(many=True))
    def get(self, request: Request, username: str) -> Response:
        channel = _channel(username)
        _owner_or_staff(request, channel)
        moderators = ChatModerator.objects.filter(channel=channel).select_related("user")
        return Response(ModeratorSerializer(moderators, many=True).data)

    @extend_schema(request=ModeratorSerializer, responses={201: ModeratorSerializer})
    def post(self, request: Request, username: str) -> Response:
        channel = _channel(username)
        given = ModeratorSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        target = _user_named(given.validated_data["user"]["username"], field="user")
        moderator = _run(services.moderator_add, channel=channel, user=target, by=request.user)
        return Response(ModeratorSerializer(moderator).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[USERNAME, USER])
class ChatModeratorRemove(APIView):
    """Remove a moderator (the streamer only)."""

    permission_classes = [LoggedIn]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str, user: str) -> Response:
        channel, target = _channel(username), _user_named(user)
        if not _run(services.moderator_remove, channel=channel, user=target, by=request.user):
            raise exceptions.NotFound(f"{target.username} is not a moderator here.")
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[USERNAME])
class ChatSettingsView(APIView):
    """The chat's settings (GET, anyone); PATCH changes them (the streamer, moderators)."""

    permission_classes = [ReadOrLoggedIn]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(responses=ChatSettingsSerializer)
    def get(self, request: Request, username: str) -> Response:
        return Response(selectors.settings_of(_channel(username)).as_dict())

    @extend_schema(request=ChatSettingsSerializer, responses=ChatSettingsSerializer)
    def patch(self, request: Request, username: str) -> Response:
        channel = _channel(username)
        given = ChatSettingsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        if not given.validated_data:
            raise exceptions.ValidationError(
                {"detail": "Give slow_mode_seconds, followers_only or links_allowed."}
            )
        settings = _run(
            services.settings_update, channel=channel, by=request.user, **given.validated_data
        )
        return Response(settings.as_dict())
