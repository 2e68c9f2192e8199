"""Streaming fixtures: real nginx-rtmp and ffmpeg (filled in below)."""
