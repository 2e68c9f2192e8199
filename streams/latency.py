"""The latency modes a streamer chooses on the dashboard, and what a measured fragment
length says about the encoder's settings.

The server does the same for both (nginx cuts a fragment at every keyframe, the player
follows the fragments' real length); the mode is what the streamer means to send, so
the dashboard can coach them when the encoder sends something else. The figures are
bench/latency.py's (README, "Latency").
"""

from dataclasses import dataclass

from django.db import models


class LatencyMode(models.TextChoices):
    LOWEST = "lowest", "Lowest latency"
    LOW = "low", "Low latency"


@dataclass(frozen=True)
class Mode:
    keyframe_seconds: float
    delay: str  # glass-to-glass p50, bench/results/latency-20261203-165414.json (README)
    # Measured fragment lengths that mean the encoder uses this mode's keyframe interval.
    fragments_up_to: float


MODES = {
    LatencyMode.LOWEST: Mode(keyframe_seconds=0.5, delay="0.75", fragments_up_to=0.75),
    LatencyMode.LOW: Mode(keyframe_seconds=1.0, delay="1.25", fragments_up_to=1.3),
}


def mode_of_fragments(seconds: float | None) -> LatencyMode | None:
    """The mode whose keyframe interval fragments this long come from; None if neither
    (or nothing measured yet). nginx cuts at the first keyframe 0.4 s into a fragment,
    so nothing but a broadcast's last fragment is shorter than that."""
    if seconds is None:
        return None
    for mode in (LatencyMode.LOWEST, LatencyMode.LOW):
        if seconds <= MODES[mode].fragments_up_to:
            return mode
    return None


def fit(chosen: str, seconds: float | None) -> str:
    """How a measured fragment length compares with the chosen mode: "unmeasured",
    "chosen" (it fits), "other" (it fits the other mode) or "neither"."""
    if seconds is None:
        return "unmeasured"
    mode = mode_of_fragments(seconds)
    if mode is None:
        return "neither"
    return "chosen" if mode == chosen else "other"
