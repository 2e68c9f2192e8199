from django.urls import path

from streams.social import views as follows
from streams.web import chat, views

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
    path("<str:username>", views.channel, name="channel"),
    path("<str:username>/status.json", views.channel_status, name="channel-status"),
    path("<str:username>/viewers", views.viewer_heartbeat, name="viewer-heartbeat"),
    path("<str:username>/follow", follows.follow, name="follow"),
    path("<str:username>/unfollow", follows.unfollow, name="unfollow"),
    path("<str:username>/follow/emails", follows.follow_emails, name="follow-emails"),
    path("<str:username>/unsubscribe/<str:token>", follows.unsubscribe, name="unsubscribe"),
]
