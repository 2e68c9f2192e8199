"""Name colours and the batching of the room hub."""

import re
from pathlib import Path

from django.conf import settings

from streams.chat import events, hub
from tests.chat.websockets import connect, frame, run


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted([luminance(a), luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_name_colour_is_readable_on_every_chat_background():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "echo.css").read_text()
    backgrounds = [
        re.search(rf"--{name}:\s*(#[0-9a-f]{{6}})", css).group(1)
        for name in ("bg", "surface", "surface-2")
    ]

    for colour in events.PALETTE:
        for background in backgrounds:
            assert contrast(colour, background) >= 4.5, (colour, background)


def test_a_name_keeps_its_colour_and_names_spread_over_the_palette():
    assert events.color_of("alice") == events.color_of("alice")
    colours = {events.color_of(f"user{n}") for n in range(200)}
    assert len(colours) == len(events.PALETTE)


def test_events_published_together_reach_a_client_in_one_frame(room, transactional_db, monkeypatch):
    """The hub batches: ten events published within one flush cost each client one frame."""
    # A long window, so that a loaded machine still publishes all ten inside it.
    monkeypatch.setattr(hub, "FLUSH_SECONDS", 1.0)

    async def scenario():
        client = await connect("alice")
        for n in range(10):
            await events.apublish(room.pk, [{"type": "deleted", "ids": [n]}])
        first = await frame(client)
        await client.disconnect()
        return first

    batch = []

    async def wrapper():
        batch.extend(await scenario())

    run(wrapper)
    assert [event["ids"] for event in batch] == [[n] for n in range(10)]
