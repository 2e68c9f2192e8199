"""The chat room: messages, moderators, restrictions and settings per channel (models,
services), the WebSocket consumer with its per-process fan-out hub, and the admin.
The REST endpoints are in streams/api/chat.py."""
