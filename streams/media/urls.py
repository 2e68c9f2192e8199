from django.urls import path

from streams.media import callbacks

app_name = "rtmp"

urlpatterns = [
    path("on-publish", callbacks.on_publish, name="on-publish"),
    path("on-publish-done", callbacks.on_publish_done, name="on-publish-done"),
    path("on-update", callbacks.on_update, name="on-update"),
    path("on-record-done", callbacks.on_record_done, name="on-record-done"),
    path("on-transcode", callbacks.on_transcode, name="on-transcode"),
]
