"""The REST API under /api/.

A stream key appears only in its owner's /api/me/channel/; e-mail addresses never.
Live state changes go through streams.services, as they do from every other caller.
"""

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.utils import has_verified_email
from django import forms
from django.conf import settings
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams import services
from streams.models import Broadcast, Category, Channel, Follow
from streams.social import services as social_services
from streams.social import viewers


def _channels() -> QuerySet[Channel]:
    """Channels with .live_since (when the open broadcast started, None when offline)
    and .follower_count."""
    open_broadcasts = Broadcast.objects.filter(channel=OuterRef("pk"), ended_at__isnull=True)
    return Channel.objects.select_related("user", "category").annotate(
        live_since=Subquery(open_broadcasts.order_by("-started_at").values("started_at")[:1]),
        follower_count=Count("follows"),
    )


def _followed_channels(user) -> QuerySet[Channel]:
    """The channels the user follows, with .followed_at and .notify_by_email."""
    # Not filter(follows__user=user): that join would also narrow follower_count to 1.
    follows = Follow.objects.filter(user=user)
    follow = follows.filter(channel=OuterRef("pk"))
    return (
        _channels()
        .filter(pk__in=follows.values("channel_id"))
        .annotate(
            followed_at=Subquery(follow.values("created_at")[:1]),
            notify_by_email=Subquery(follow.values("notify_by_email")[:1]),
        )
    )


def _own_channel(request: Request) -> Channel:
    services.channel_for_user(user=request.user)
    return _channels().get(user=request.user)


# --- serializers ---------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name"]


class ChannelSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.public_name", read_only=True)
    bio = serializers.CharField(source="user.bio", read_only=True)
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    category_name = serializers.CharField(source="category.name", default=None, read_only=True)
    live = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(source="live_since", read_only=True)
    viewers = serializers.SerializerMethodField()
    follower_count = serializers.IntegerField(read_only=True)
    hls_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "name",
            "display_name",
            "bio",
            # The channel's title, not the broadcast's snapshot: an edit shows at once,
            # as on the pages.
            "title",
            "category",
            "category_name",
            "live",
            "started_at",
            "viewers",
            "follower_count",
            "hls_url",
            "url",
        ]
        read_only_fields = fields

    def get_live(self, channel: Channel) -> bool:
        return channel.live_since is not None

    def get_viewers(self, channel: Channel) -> int:
        """Players watching now, counted from their heartbeats; 0 while offline."""
        return viewers.viewer_count(channel.name) if channel.live_since else 0

    def get_hls_url(self, channel: Channel) -> str:
        return self.context["request"].build_absolute_uri(channel.hls_url)

    def get_url(self, channel: Channel) -> str:
        return self.context["request"].build_absolute_uri(channel.get_absolute_url())


class OwnChannelSerializer(ChannelSerializer):
    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), allow_null=True, required=False
    )
    rtmp_url = serializers.SerializerMethodField()

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "rtmp_url", "stream_key"]
        read_only_fields = [f for f in fields if f not in ("title", "category")]

    def get_rtmp_url(self, channel: Channel) -> str:
        return settings.ECHO_RTMP_PUBLIC_URL

    def update(self, channel: Channel, validated_data: dict) -> Channel:
        for field, value in validated_data.items():
            setattr(channel, field, value)
        # Only these columns: saving them all would write back a stream key rotated,
        # or a ban set, since this request read the row.
        channel.save(update_fields=list(validated_data))
        return channel


class FollowedChannelSerializer(ChannelSerializer):
    followed_at = serializers.DateTimeField(read_only=True)
    notify_by_email = serializers.BooleanField(
        read_only=True,
        help_text="E-mail me when this channel goes live (PATCH the follow to change it).",
    )

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "followed_at", "notify_by_email"]


class FollowSettingsSerializer(serializers.Serializer):
    notify_by_email = serializers.BooleanField()


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(write_only=True)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate(self, attrs: dict) -> dict:
        request = self.context["request"]._request
        # allauth's own check, as on the login page: failures count against
        # ACCOUNT_RATE_LIMITS["login_failed"], per address and per username.
        try:
            user = get_adapter(request).authenticate(request, **attrs)
        except forms.ValidationError:
            raise exceptions.Throttled(
                detail="Too many failed login attempts. Try again later."
            ) from None
        # allauth also returns a deactivated user whose password matched, to explain the refusal.
        if user is None or not user.is_active:
            raise serializers.ValidationError("Unable to log in with provided credentials.")
        mandatory = allauth_settings.EmailVerificationMethod.MANDATORY
        if allauth_settings.EMAIL_VERIFICATION == mandatory and not has_verified_email(user):
            # The website would not log this user in either.
            raise serializers.ValidationError(
                "Confirm your e-mail address first: follow the link in the e-mail we sent you."
            )
        return {"user": user}


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(source="key", read_only=True)


# --- public --------------------------------------------------------------------


class CategoryList(generics.ListAPIView):
    """Every category, for filtering live channels and setting your own."""

    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    pagination_class = None


@extend_schema(
    parameters=[
        OpenApiParameter("category", str, description="Only channels in this category (its slug).")
    ]
)
class LiveChannelList(generics.ListAPIView):
    """Channels live now, the most recently started first."""

    serializer_class = ChannelSerializer

    def get_queryset(self) -> QuerySet[Channel]:
        channels = _channels().filter(pk__in=Channel.objects.live())
        category = self.request.query_params.get("category")
        if category:
            channels = channels.filter(category__slug=category)
        return channels.order_by("-live_since", "user__username")


class ChannelDetail(generics.RetrieveAPIView):
    """One channel, live or not, by its name (the username)."""

    serializer_class = ChannelSerializer
    lookup_field = "user__username"
    lookup_url_kwarg = "username"

    def get_queryset(self) -> QuerySet[Channel]:
        return _channels()


# --- the logged-in user's channel ------------------------------------------------


# The responses hold the stream key.
@method_decorator(never_cache, name="dispatch")
class OwnChannel(generics.RetrieveUpdateAPIView):
    """Your channel, with its stream key and RTMP server; PATCH changes title and category."""

    serializer_class = OwnChannelSerializer
    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Channel:
        return _own_channel(self.request)


@method_decorator(never_cache, name="dispatch")
class OwnChannelRotateKey(APIView):
    """Replace your stream key: the old one stops working and a live broadcast ends."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=OwnChannelSerializer)
    def post(self, request: Request) -> Response:
        services.stream_key_rotate(channel=_own_channel(request))
        channel = _own_channel(request)
        return Response(OwnChannelSerializer(channel, context={"request": request}).data)


# --- follows ---------------------------------------------------------------------


class ChannelFollow(APIView):
    """Whether you follow a channel (GET), follow it (POST), set its go-live e-mails
    (PATCH), unfollow it (DELETE)."""

    permission_classes = [IsAuthenticated]

    def _channel(self, username: str) -> Channel:
        return get_object_or_404(Channel, user__username=username)

    def _followed(self, request: Request, username: str, *, status_code: int = 200) -> Response:
        channel = _followed_channels(request.user).filter(user__username=username).first()
        if channel is None:
            raise exceptions.NotFound(f"You don't follow {username}.")
        serializer = FollowedChannelSerializer(channel, context={"request": request})
        return Response(serializer.data, status=status_code)

    @extend_schema(responses=FollowedChannelSerializer)
    def get(self, request: Request, username: str) -> Response:
        self._channel(username)
        return self._followed(request, username)

    @extend_schema(
        request=None, responses={200: FollowedChannelSerializer, 201: FollowedChannelSerializer}
    )
    def post(self, request: Request, username: str) -> Response:
        channel = self._channel(username)
        already = Follow.objects.filter(user=request.user, channel=channel).exists()
        try:
            social_services.channel_follow(user=request.user, channel=channel)
        except social_services.CannotFollow as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_400_BAD_REQUEST)
        return self._followed(request, username, status_code=200 if already else 201)

    @extend_schema(request=FollowSettingsSerializer, responses=FollowedChannelSerializer)
    def patch(self, request: Request, username: str) -> Response:
        channel = self._channel(username)
        choice = FollowSettingsSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        social_services.follow_set_notify(
            user_id=request.user.pk,
            channel_id=channel.pk,
            notify=choice.validated_data["notify_by_email"],
        )
        return self._followed(request, username)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        social_services.channel_unfollow(user=request.user, channel=self._channel(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowedChannelList(generics.ListAPIView):
    """The channels you follow: live ones first, the most recently started first."""

    serializer_class = FollowedChannelSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> QuerySet[Channel]:
        return _followed_channels(self.request.user).order_by(
            F("live_since").desc(nulls_last=True), "user__username"
        )


# --- tokens ----------------------------------------------------------------------


@method_decorator(never_cache, name="dispatch")
class TokenObtain(APIView):
    """Your API token for a username and password; send it as `Authorization: Token <key>`."""

    # A stale token sent along must not stop a client from getting a new one.
    authentication_classes = []

    @extend_schema(request=CredentialsSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=credentials.validated_data["user"])
        return Response(TokenSerializer(token).data)


@method_decorator(never_cache, name="dispatch")
class OwnToken(APIView):
    """Your API token: see it, replace it (POST) or revoke it (DELETE)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TokenSerializer)
    def get(self, request: Request) -> Response:
        token = Token.objects.filter(user=request.user).first()
        if token is None:
            raise exceptions.NotFound("You have no API token: POST here to create one.")
        return Response(TokenSerializer(token).data)

    @extend_schema(request=None, responses={201: TokenSerializer})
    def post(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        token = Token.objects.create(user=request.user)
        return Response(TokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def not_found(request: HttpRequest, path: str) -> JsonResponse:
    """Unknown paths under /api/ answer in JSON too, not with the site's HTML 404 page."""
    detail = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        detail += " API paths end with a slash."
    return JsonResponse({"detail": detail}, status=404)
