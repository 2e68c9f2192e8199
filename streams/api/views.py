"""The REST API under /api/: channels, your own channel, follows (tokens: tokens.py).

A stream key appears only in its owner's /api/me/channel/; e-mail addresses never.
Channels are read through streams.selectors, so each list here matches its page;
changes go through streams.services, as they do from every other caller.
"""

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams import selectors, services
from streams.api.serializers import (
    CategorySerializer,
    ChannelSerializer,
    FollowedChannelSerializer,
    FollowSettingsSerializer,
    OwnChannelSerializer,
)
from streams.models import Category, Channel, Follow
from streams.social import services as social_services

USERNAME = OpenApiParameter(
    "username", str, OpenApiParameter.PATH, description="The channel's name."
)

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
    """Channels live now, the most watched first (equally watched: the most recently started)."""

    serializer_class = ChannelSerializer

    def get_queryset(self) -> list[Channel]:
        return selectors.channel_list_live(category=self.request.query_params.get("category"))


@extend_schema(parameters=[USERNAME])
class ChannelDetail(generics.RetrieveAPIView):
    """One channel, live or not, by its name (the username)."""

    serializer_class = ChannelSerializer

    def get_object(self) -> Channel:
        return selectors.channel_get(name=self.kwargs["username"], stats=True)


# --- the logged-in user's channel ------------------------------------------------


# The responses hold the stream key.
@method_decorator(never_cache, name="dispatch")
class OwnChannel(generics.RetrieveUpdateAPIView):
    """Your channel, with its stream key and RTMP server; PATCH changes title and category."""

    serializer_class = OwnChannelSerializer
    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Channel:
        return selectors.channel_of_user(user=self.request.user)


@method_decorator(never_cache, name="dispatch")
class OwnChannelRotateKey(APIView):
    """Replace your stream key: the old one stops working and a live broadcast ends."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=OwnChannelSerializer)
    def post(self, request: Request) -> Response:
        services.stream_key_rotate(channel=selectors.channel_of_user(user=request.user))
        channel = selectors.channel_of_user(user=request.user)
        return Response(OwnChannelSerializer(channel, context={"request": request}).data)


# --- follows ---------------------------------------------------------------------


@extend_schema(parameters=[USERNAME])
class ChannelFollow(APIView):
    """Whether you follow a channel (GET), follow it (POST), set its go-live e-mails
    (PATCH), unfollow it (DELETE)."""

    permission_classes = [IsAuthenticated]

    def _followed(self, request: Request, channel: Channel, *, status_code: int = 200) -> Response:
        followed = selectors.channel_get_followed(user=request.user, name=channel.name)
        if followed is None:
            raise exceptions.NotFound(f"You don't follow {channel.name}.")
        serializer = FollowedChannelSerializer(followed, context={"request": request})
        return Response(serializer.data, status=status_code)

    @extend_schema(responses=FollowedChannelSerializer)
    def get(self, request: Request, username: str) -> Response:
        return self._followed(request, selectors.channel_get(name=username))

    @extend_schema(
        request=None, responses={200: FollowedChannelSerializer, 201: FollowedChannelSerializer}
    )
    def post(self, request: Request, username: str) -> Response:
        channel = selectors.channel_get(name=username)
        already = Follow.objects.filter(user=request.user, channel=channel).exists()
        try:
            social_services.channel_follow(user=request.user, channel=channel)
        except social_services.CannotFollow as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_400_BAD_REQUEST)
        return self._followed(request, channel, status_code=200 if already else 201)

    @extend_schema(request=FollowSettingsSerializer, responses=FollowedChannelSerializer)
    def patch(self, request: Request, username: str) -> Response:
        channel = selectors.channel_get(name=username)
        choice = FollowSettingsSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        social_services.follow_set_notify(
            user_id=request.user.pk,
            channel_id=channel.pk,
            notify=choice.validated_data["notify_by_email"],
        )
        return self._followed(request, channel)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        channel = selectors.channel_get(name=username)
        social_services.channel_unfollow(user=request.user, channel=channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowedChannelList(generics.ListAPIView):
    """The channels you follow, as on /following/: live ones first, the most watched first,
    then the most recently live."""

    serializer_class = FollowedChannelSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> list[Channel]:
        return selectors.channel_list_followed(user=self.request.user)


def not_found(request: HttpRequest, path: str) -> JsonResponse:
    """Unknown paths under /api/ answer in JSON too, not with the site's HTML 404 page."""
    detail = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        detail += " API paths end with a slash."
    return JsonResponse({"detail": detail}, status=404)
