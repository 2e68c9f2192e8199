"""What the API's JSON looks like: channels (public, your own, followed), follows, tokens.

Serializers only show and validate: the channels they show come from streams.selectors
(with live state, viewers and follower count attached), changes go through services.
"""

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.utils import has_verified_email
from django import forms
from django.conf import settings
from rest_framework import exceptions, serializers

from streams import services
from streams.models import Category, Channel


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
    viewers = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Players watching now, counted from their heartbeats; 0 while offline; "
        "null when the count is unavailable.",
    )
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
        # A PATCH may leave either out: it keeps its value.
        return services.channel_settings_update(
            channel=channel,
            title=validated_data.get("title", channel.title),
            category=validated_data.get("category", channel.category),
        )


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
