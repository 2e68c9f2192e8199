"""Staff: recordings (why one paused), replays (a job's error, retry, remove) and clips.
Every change goes through streams.replays.services, which removes files with rows."""

from django.contrib import admin, messages

from streams.replays import clips, services
from streams.replays.models import Clip, Recording, Replay


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["broadcast", "status", "note", "started_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["broadcast__channel__user__username", "note"]
    list_select_related = ["broadcast__channel__user"]
    readonly_fields = [f.name for f in Recording._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a replay's files go with the replay


@admin.register(Replay)
class ReplayAdmin(admin.ModelAdmin):
    list_display = ["__str__", "channel", "status", "hidden", "duration", "attempts", "error"]
    list_filter = ["status", "hidden"]
    search_fields = ["title", "channel__user__username", "error"]
    list_select_related = ["channel__user"]
    readonly_fields = [f.name for f in Replay._meta.fields]
    actions = ["remove", "retry"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("streams.change_replay")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would leave the files behind
        return actions

    @admin.action(description="Remove (deletes the files)", permissions=["change"])
    def remove(self, request, queryset) -> None:
        count = 0
        for replay in queryset.select_related("broadcast"):
            services.replay_delete(replay=replay)
            count += 1
        self.message_user(request, f"Removed {count} replay(s) and their files.", messages.SUCCESS)

    @admin.action(description="Run the job again", permissions=["change"])
    def retry(self, request, queryset) -> None:
        failed = queryset.filter(status=Replay.Status.FAILED)
        for replay in failed:
            services.replay_retry(replay=replay)
        self.message_user(request, f"Queued {failed.count()} replay(s) again.", messages.SUCCESS)

    def delete_model(self, request, obj) -> None:
        services.replay_delete(replay=obj)


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["title", "channel", "created_by", "status", "duration", "error", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "channel__user__username", "created_by__username"]
    list_select_related = ["channel__user", "created_by"]
    readonly_fields = [f.name for f in Clip._meta.fields]
    actions = ["remove"]

    def has_add_permission(self, request) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Remove (deletes the files)", permissions=["change"])
    def remove(self, request, queryset) -> None:
        count = 0
        for clip in queryset:
            clips.clip_delete(clip=clip)
            count += 1
        self.message_user(request, f"Removed {count} clip(s) and their files.", messages.SUCCESS)

    def delete_model(self, request, obj) -> None:
        clips.clip_delete(clip=obj)
