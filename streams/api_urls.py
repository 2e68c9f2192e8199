from django.urls import path

from streams import api

app_name = "api"

urlpatterns = [
    path("channels/live/", api.LiveChannelList.as_view(), name="live-channels"),
    path("channels/<str:username>/", api.ChannelDetail.as_view(), name="channel-detail"),
]
