"""Past broadcasts and clips in the API: the same reads (streams.replays.selectors) and
changes (streams.replays.services) as the pages, the same clip limit per user."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams import selectors as core_selectors
from streams.api.throttles import ClipRateThrottle
from streams.replays import clips, selectors, services
from streams.replays.models import Clip, Replay


class ReplaySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name", read_only=True)
    started_at = serializers.DateTimeField(source="broadcast.started_at", read_only=True)
    ended_at = serializers.DateTimeField(source="broadcast.ended_at", read_only=True)
    duration = serializers.FloatField(read_only=True, help_text="Seconds; null until ready.")
    url = serializers.SerializerMethodField()
    video_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Replay
        fields = ["id", "channel", "title", "status", "hidden", "started_at", "ended_at"]
        fields += ["duration", "url", "video_url", "thumbnail_url"]
        read_only_fields = ["id", "channel", "status", "started_at", "ended_at", "duration"]
        extra_kwargs = {"title": {"max_length": 140, "allow_blank": True}}

    def _absolute(self, path: str) -> str:
        return self.context["request"].build_absolute_uri(path)

    def get_url(self, replay: Replay) -> str:
        return self._absolute(replay.get_absolute_url())

    def get_video_url(self, replay: Replay) -> str | None:
        return self._absolute(replay.video_url) if replay.status == Replay.Status.READY else None

    def get_thumbnail_url(self, replay: Replay) -> str | None:
        ready = replay.status == Replay.Status.READY
        return self._absolute(replay.thumbnail_url) if ready else None


class ClipSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    replay = serializers.PrimaryKeyRelatedField(read_only=True)
    url = serializers.SerializerMethodField()
    video_url = serializers.SerializerMethodField()

    class Meta:
        model = Clip
        fields = ["slug", "channel", "title", "status", "replay", "start", "duration"]
        fields += ["created_by", "created_at", "url", "video_url"]
        read_only_fields = fields

    def get_url(self, clip: Clip) -> str:
        return self.context["request"].build_absolute_uri(clip.get_absolute_url())

    def get_video_url(self, clip: Clip) -> str | None:
        if clip.status != Clip.Status.READY:
            return None
        return self.context["request"].build_absolute_uri(clip.video_url)


class ClipRequestSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=140)
    length = serializers.FloatField(
        min_value=clips.CLIP_MIN_SECONDS,
        max_value=clips.CLIP_MAX_SECONDS,
        default=clips.CLIP_DEFAULT_SECONDS,
    )
    replay = serializers.IntegerField(
        required=False, help_text="Clip this past broadcast (else: the live stream's last seconds)."
    )
    start = serializers.FloatField(
        required=False, min_value=0, help_text="Seconds into the replay."
    )


class ChannelReplayList(generics.ListAPIView):
    """A channel's past broadcasts, newest first (its owner also sees hidden ones)."""

    serializer_class = ReplaySerializer
    pagination_class = None

    def get_queryset(self) -> list[Replay]:
        channel = core_selectors.channel_get(name=self.kwargs["username"])
        return selectors.replay_list(channel=channel, user=self.request.user, limit=100)


class ReplayDetail(generics.RetrieveUpdateDestroyAPIView):
    """One past broadcast; its owner renames or hides it (PATCH) and deletes it (DELETE,
    files too); staff may delete any."""

    serializer_class = ReplaySerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Replay:
        replay = Replay.objects.select_related("channel__user", "broadcast").filter(
            pk=self.kwargs["pk"]
        )
        replay = replay.first()
        if replay is None or not selectors.replay_visible(replay, self.request.user):
            raise Http404
        user = self.request.user
        if self.request.method == "PATCH" and user.pk != replay.channel.user_id:
            raise exceptions.PermissionDenied("Only the channel's owner changes its replays.")
        if self.request.method == "DELETE" and not (
            user.pk == replay.channel.user_id or user.is_staff
        ):
            raise exceptions.PermissionDenied("Only the owner or staff delete a replay.")
        return replay

    def perform_update(self, serializer) -> None:
        data = serializer.validated_data
        services.replay_update(
            replay=serializer.instance, title=data.get("title"), hidden=data.get("hidden")
        )

    def perform_destroy(self, instance: Replay) -> None:
        services.replay_delete(replay=instance)


class ChannelClipList(APIView):
    """A channel's clips (GET); clip its live stream or one of its replays (POST)."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    def get_throttles(self):
        throttles = super().get_throttles()
        return throttles + [ClipRateThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(responses=ClipSerializer(many=True))
    def get(self, request: Request, username: str) -> Response:
        channel = core_selectors.channel_get(name=username)
        clips = selectors.clip_list(channel=channel, user=request.user, limit=100)
        return Response(ClipSerializer(clips, many=True, context={"request": request}).data)

    @extend_schema(request=ClipRequestSerializer, responses={202: ClipSerializer})
    def post(self, request: Request, username: str) -> Response:
        channel = core_selectors.channel_get(name=username)
        asked = ClipRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        replay = None
        if "replay" in data:
            replay = selectors.replay_get(
                channel_name=username, replay_id=data["replay"], user=request.user
            )
        broadcast = replay.broadcast if replay else channel.live_broadcast
        if broadcast is None:
            raise exceptions.ValidationError({"detail": "The channel is offline: give a replay."})
        try:
            clip = clips.clip_create(
                user=request.user,
                broadcast=broadcast,
                replay=replay,
                title=data["title"],
                length=data["length"],
                start=data.get("start"),
            )
        except clips.ClipRefused as refused:
            raise exceptions.ValidationError({"detail": str(refused)}) from None
        body = ClipSerializer(clip, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ClipDetail(APIView):
    """One clip (GET: poll `status` until ready); its maker, the channel's owner or staff
    delete it."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    def _clip(self, request: Request, slug: str) -> Clip:
        return selectors.clip_get(slug=slug, user=request.user)

    @extend_schema(responses=ClipSerializer)
    def get(self, request: Request, slug: str) -> Response:
        clip = self._clip(request, slug)
        return Response(ClipSerializer(clip, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        clip = self._clip(request, slug)
        if request.user.pk not in (clip.created_by_id, clip.channel.user_id) and not (
            request.user.is_staff
        ):
            raise exceptions.PermissionDenied("Only its maker, the channel or staff delete it.")
        clips.clip_delete(clip=clip)
        return Response(status=status.HTTP_204_NO_CONTENT)
