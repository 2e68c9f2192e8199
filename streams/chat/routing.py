from django.urls import path

from streams.chat.consumer import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:name>/", ChatConsumer.as_asgi()),
]
