"""Staff moderation of chat rooms. Actions go through streams.chat.services (so connected
clients see them) and need the change permission, as streams/admin.py's do."""

from django.contrib import admin, messages

from streams.chat import services
from streams.chat.models import ChatMessage, ChatModerator, ChatRestriction, ChatSettings


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["channel", "author", "body", "created_at", "deleted_at", "deleted_by"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["body", "author__username", "channel__user__username"]
    list_select_related = ["channel__user", "author", "deleted_by"]
    readonly_fields = [f.name for f in ChatMessage._meta.fields]
    date_hierarchy = "created_at"
    actions = ["delete_for_everyone", "undelete"]

    def has_add_permission(self, request) -> bool:
        return False  # messages are written in the chat, by their authors

    def get_actions(self, request):
        # Deleting rows would bypass the event every client needs: hide, don't remove.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete for everyone", permissions=["change"])
    def delete_for_everyone(self, request, queryset) -> None:
        deleted = sum(
            services.message_delete(channel=m.channel, message_id=m.pk, by=request.user)
            for m in queryset.select_related("channel")
        )
        self.message_user(request, f"Deleted {deleted} message(s).", messages.SUCCESS)

    @admin.action(
        description="Undelete (shown again on the next page load)", permissions=["change"]
    )
    def undelete(self, request, queryset) -> None:
        for message in queryset:
            services.message_restore(message=message)
        self.message_user(request, f"Undeleted {len(queryset)} message(s).")


@admin.register(ChatRestriction)
class ChatRestrictionAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "kind", "until", "reason", "created_by", "lifted_at"]
    list_filter = ["kind", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "channel__user__username", "reason"]
    list_select_related = ["user", "channel__user", "created_by"]
    readonly_fields = [f.name for f in ChatRestriction._meta.fields]
    actions = ["lift"]

    def has_add_permission(self, request) -> bool:
        return False  # restrict from the chat or the API: they also hide recent messages

    @admin.action(description="Lift", permissions=["change"])
    def lift(self, request, queryset) -> None:
        lifted = sum(
            services.restriction_lift(channel=r.channel, user=r.user, by=request.user)
            for r in queryset.select_related("channel", "user")
        )
        self.message_user(request, f"Lifted {lifted} restriction(s).", messages.SUCCESS)


@admin.register(ChatModerator)
class ChatModeratorAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "appointed_at"]
    search_fields = ["user__username", "channel__user__username"]
    list_select_related = ["user", "channel__user"]
    raw_id_fields = ["user", "channel"]


@admin.register(ChatSettings)
class ChatSettingsAdmin(admin.ModelAdmin):
    list_display = ["channel", "slow_mode_seconds", "followers_only", "links_allowed"]
    list_filter = ["followers_only", "links_allowed"]
    search_fields = ["channel__user__username"]
    raw_id_fields = ["channel"]

    def save_model(self, request, obj, form, change) -> None:
        # Through the service: it checks the range and tells every connected client.
        services.settings_update(
            channel=obj.channel,
            by=request.user,
            slow_mode_seconds=obj.slow_mode_seconds,
            followers_only=obj.followers_only,
            links_allowed=obj.links_allowed,
        )
        obj.pk = ChatSettings.objects.get(channel=obj.channel).pk
