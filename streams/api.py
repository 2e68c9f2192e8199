"""Read-only public API; never exposes stream keys or e-mail addresses."""

from rest_framework import generics, serializers

from streams.models import Channel


class ChannelSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="user.username")
    display_name = serializers.CharField(source="user.public_name")
    category = serializers.CharField(source="category.name", default=None)
    live = serializers.SerializerMethodField()
    started_at = serializers.SerializerMethodField()
    hls_url = serializers.CharField()

    class Meta:
        model = Channel
        fields = ["name", "display_name", "title", "category", "live", "started_at", "hls_url"]

    def get_live(self, channel: Channel) -> bool:
        return channel.live_broadcast is not None

    def get_started_at(self, channel: Channel):
        broadcast = channel.live_broadcast
        return broadcast.started_at if broadcast else None


class LiveChannelList(generics.ListAPIView):
    serializer_class = ChannelSerializer

    def get_queryset(self):
        return Channel.objects.live().select_related("user", "category")


class ChannelDetail(generics.RetrieveAPIView):
    serializer_class = ChannelSerializer
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    queryset = Channel.objects.select_related("user", "category")
