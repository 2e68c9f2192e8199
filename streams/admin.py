from django.contrib import admin, messages

from streams import services
from streams.media import renditions
from streams.models import Broadcast, Category, Channel, Follow, TranscodeState


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "category", "streaming_banned", "created_at"]
    list_filter = ["streaming_banned", "category"]
    search_fields = ["user__username", "title"]
    list_select_related = ["user", "category"]
    # The stream key is never shown, even to staff: rotate it instead.
    fields = ["user", "title", "category", "streaming_banned", "created_at"]
    readonly_fields = ["user", "streaming_banned", "created_at"]
    # Each action changes live state: Django offers it only to staff with the change
    # permission, and refuses a forged POST from anyone else.
    actions = ["rotate_keys", "ban_from_streaming", "lift_streaming_ban"]

    def has_add_permission(self, request) -> bool:
        return False  # every user gets a channel when the account is created

    @admin.action(description="Rotate stream key (drops a live broadcast)", permissions=["change"])
    def rotate_keys(self, request, queryset) -> None:
        for channel in queryset:
            services.stream_key_rotate(channel=channel)
        self.message_user(request, f"Rotated {len(queryset)} stream key(s).", messages.SUCCESS)

    @admin.action(description="Ban from streaming (drops a live broadcast)", permissions=["change"])
    def ban_from_streaming(self, request, queryset) -> None:
        for channel in queryset:
            services.channel_ban(channel=channel)
        self.message_user(request, f"Banned {len(queryset)} channel(s).", messages.SUCCESS)

    @admin.action(description="Lift streaming ban", permissions=["change"])
    def lift_streaming_ban(self, request, queryset) -> None:
        for channel in queryset:
            services.channel_unban(channel=channel)
        self.message_user(request, f"Lifted the ban on {len(queryset)} channel(s).")


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = [
        "channel",
        "title",
        "started_at",
        "ended_at",
        "end_reason",
        "peak_viewers",
        "renditions_summary",
    ]
    list_filter = ["end_reason", "transcode_state", "category"]
    search_fields = ["channel__user__username", "title"]
    list_select_related = ["channel__user"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "channel",
        "title",
        "category",
        "client_id",
        "started_at",
        "last_seen_at",
        "ended_at",
        "end_reason",
        "peak_viewers",
        "followers_notified_at",
        "transcode_state",
        "transcode_levels",
        "transcode_speed",
        "transcode_restarts",
        "transcode_seen_at",
    ]
    actions = ["end_now"]

    @admin.display(description="Renditions", ordering="transcode_state")
    def renditions_summary(self, broadcast: Broadcast) -> str:
        """The transcoder's state, levels and speed; a slow one says so."""
        if not broadcast.transcode_state:
            return "—"
        text = broadcast.get_transcode_state_display()
        levels = renditions.level_labels(broadcast)
        if levels:
            text += f": {', '.join(levels)}"
        if broadcast.transcode_speed is not None:
            text += f" · {broadcast.transcode_speed:.2f}x"
            if (
                renditions.is_behind(broadcast)
                and broadcast.transcode_state != TranscodeState.BEHIND
            ):
                text += " (behind real time)"
        if broadcast.transcode_restarts:
            text += f" · {broadcast.transcode_restarts} restart(s)"
        return text

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="End broadcast now (drops the publisher)", permissions=["change"])
    def end_now(self, request, queryset) -> None:
        ended = sum(services.broadcast_end(broadcast=b) for b in queryset.filter(ended_at=None))
        self.message_user(request, f"Ended {ended} live broadcast(s).", messages.SUCCESS)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "notify_by_email", "created_at"]
    list_filter = ["notify_by_email"]
    search_fields = ["user__username", "channel__user__username"]
    list_select_related = ["user", "channel__user"]
    raw_id_fields = ["user", "channel"]
    date_hierarchy = "created_at"


# The rooms' admin pages (Django's autodiscovery imports only this module).
import streams.chat.admin  # noqa: E402, F401
import streams.replays.admin  # noqa: E402, F401
