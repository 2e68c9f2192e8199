from django.urls import path, re_path

from streams.social import views as follows
from streams.web import chat, replays, views

app_name = "streams"

urlpatterns = [
    path("", views.directory, name="directory"),
    path("c/<slug:slug>/", views.category, name="category"),
    path("search/", views.search, name="search"),
    path("following/", follows.following, name="following"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/rotate-key/", views.rotate_key, name="rotate-key"),
    path("dashboard/chat/moderators/", chat.moderator_add, name="chat-moderator-add"),
    path(
        "dashboard/chat/moderators/<str:username>/remove",
        chat.moderator_remove,
        name="chat-moderator-remove",
    ),
    path(
        "dashboard/chat/restrictions/<str:username>/lift",
        chat.restriction_lift,
        name="chat-restriction-lift",
    ),
    path("dashboard/latency/", views.latency_mode, name="latency-mode"),
    # Past broadcasts and clips (streams/web/replays.py).
    path("dashboard/recording/", replays.recording_setting, name="recording-setting"),
    re_path(
        r"^replays/(?P<token>[A-Za-z0-9_-]{16,32})\.(?P<ext>mp4|jpg)$",
        replays.media_file,
        name="replay-file",
    ),
    path("clips/<slug:slug>", replays.clip, name="clip"),
    path("clips/<slug:slug>/status.json", replays.clip_status, name="clip-status"),
    path("clips/<slug:slug>/delete", replays.clip_delete, name="clip-delete"),
    path("<str:username>/clip", replays.clip_create, name="clip-live"),
    path("<str:username>/replays/<int:replay_id>", replays.replay, name="replay"),
    path("<str:username>/replays/<int:replay_id>/edit", replays.replay_edit, name="replay-edit"),
    path(
        "<str:username>/replays/<int:replay_id>/delete",
        replays.replay_delete,
        name="replay-delete",
    ),
    path("<str:username>/replays/<int:replay_id>/clip", replays.clip_create, name="clip-replay"),
    path("<str:username>", views.channel, name="channel"),
    path("<str:username>/status.json", views.channel_status, name="channel-status"),
    path("<str:username>/viewers", views.viewer_heartbeat, name="viewer-heartbeat"),
    path("<str:username>/follow", follows.follow, name="follow"),
    path("<str:username>/unfollow", follows.unfollow, name="unfollow"),
    path("<str:username>/follow/emails", follows.follow_emails, name="follow-emails"),
    path("<str:username>/unsubscribe/<str:token>", follows.unsubscribe, name="unsubscribe"),
]
