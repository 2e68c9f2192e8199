from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from streams.api import chat, replays, tokens
from streams.api import views as api

app_name = "api"

urlpatterns = [
    path("categories/", api.CategoryList.as_view(), name="categories"),
    path("channels/live/", api.LiveChannelList.as_view(), name="live-channels"),
    path("channels/<str:username>/", api.ChannelDetail.as_view(), name="channel-detail"),
    path("channels/<str:username>/follow/", api.ChannelFollow.as_view(), name="follow"),
    path("channels/<str:username>/chat/", chat.ChatHistory.as_view(), name="chat"),
    path(
        "channels/<str:username>/chat/messages/<int:id>/",
        chat.ChatMessageDelete.as_view(),
        name="chat-message",
    ),
    path(
        "channels/<str:username>/chat/restrictions/",
        chat.ChatRestrictionList.as_view(),
        name="chat-restrictions",
    ),
    path(
        "channels/<str:username>/chat/restrictions/<str:user>/",
        chat.ChatRestrictionLift.as_view(),
        name="chat-restriction",
    ),
    path(
        "channels/<str:username>/chat/moderators/",
        chat.ChatModeratorList.as_view(),
        name="chat-moderators",
    ),
    path(
        "channels/<str:username>/chat/moderators/<str:user>/",
        chat.ChatModeratorRemove.as_view(),
        name="chat-moderator",
    ),
    path(
        "channels/<str:username>/chat/settings/",
        chat.ChatSettingsView.as_view(),
        name="chat-settings",
    ),
    path(
        "channels/<str:username>/replays/",
        replays.ChannelReplayList.as_view(),
        name="channel-replays",
    ),
    path("channels/<str:username>/clips/", replays.ChannelClipList.as_view(), name="clips"),
    path("replays/<int:pk>/", replays.ReplayDetail.as_view(), name="replay"),
    path("clips/<slug:slug>/", replays.ClipDetail.as_view(), name="clip"),
    path("me/channel/", api.OwnChannel.as_view(), name="own-channel"),
    path("me/channel/rotate-key/", api.OwnChannelRotateKey.as_view(), name="rotate-key"),
    path("me/following/", api.FollowedChannelList.as_view(), name="following"),
    path("me/token/", tokens.OwnToken.as_view(), name="own-token"),
    path("auth/token/", tokens.TokenObtain.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    # Last: everything else under /api/ is a JSON 404.
    re_path(r"^(?P<path>.*)$", api.not_found),
]
