from django.urls import path

from streams import views

app_name = "streams"

urlpatterns = [
    path("", views.directory, name="directory"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/rotate-key/", views.rotate_key, name="rotate-key"),
    path("<str:username>", views.channel, name="channel"),
    path("<str:username>/status.json", views.channel_status, name="channel-status"),
]
