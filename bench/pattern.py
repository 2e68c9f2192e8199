"""A camera stand-in for the latency bench: raw frames that carry their capture time.

Each frame shows the wall-clock time (time.time(), in ms) at which it was generated as
a 16x4 grid of black/white 32x32 blocks: 48 bits of time and a 16-bit check. The
browser reads the blocks back from the frame it presents, so glass-to-glass latency
is measured on the real picture, whatever nginx, hls.js and Chromium do in between.
Below the code a textured band scrolls, so the encoder has real motion to work on.
"""

import os
import queue
import random
import subprocess
import threading
import time

WIDTH, HEIGHT = 640, 360
FPS = 30
SAMPLE_RATE = 44100
SILENCE = bytes(SAMPLE_RATE // FPS * 4)  # one frame's worth of 16-bit stereo

# The code grid; bench/probe.js must agree on every one of these numbers.
CODE_COLUMNS, CODE_ROWS, BLOCK = 16, 4, 32
CODE_X, CODE_Y = 64, 16  # multiples of 16: blocks stay aligned to H.264 macroblocks
TIME_BITS, CHECK_BITS = 48, 16
CHECK_SALT = 0x5A5A
BAND_Y = CODE_Y + CODE_ROWS * BLOCK + 16

BLACK, WHITE = b"\x00", b"\xff"


def check_bits(capture_ms: int) -> int:
    return ((capture_ms >> 32) ^ (capture_ms >> 16) ^ capture_ms ^ CHECK_SALT) & 0xFFFF


def code_bits(capture_ms: int) -> list[int]:
    value = ((capture_ms & (1 << TIME_BITS) - 1) << CHECK_BITS) | check_bits(capture_ms)
    total = TIME_BITS + CHECK_BITS
    return [(value >> (total - 1 - i)) & 1 for i in range(total)]


class FrameMaker:
    """Builds gray (one byte per pixel) frames; about 0.1 ms each in plain Python."""

    def __init__(self, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.base = bytearray(b"\xc0" * (WIDTH * HEIGHT))
        band_height = HEIGHT - BAND_Y
        # A random 8x8-block texture twice the frame width; each frame shows a window of it.
        cells = [
            [rng.randrange(40, 216) for _ in range(2 * WIDTH // 8)]
            for _ in range(band_height // 8 + 1)
        ]
        self.band_rows = []
        for y in range(band_height):
            row = b"".join(bytes([value]) * 8 for value in cells[y // 8])
            self.band_rows.append(row + row[:WIDTH])
        margin = WHITE * CODE_X
        self.margins = (margin, WHITE * (WIDTH - CODE_X - CODE_COLUMNS * BLOCK))
        self.blocks = (BLACK * BLOCK, WHITE * BLOCK)

    def frame(self, index: int, capture_ms: int) -> bytearray:
        frame = bytearray(self.base)
        offset = (index * 6) % WIDTH
        for y, row in enumerate(self.band_rows):
            start = (BAND_Y + y) * WIDTH
            frame[start : start + WIDTH] = row[offset : offset + WIDTH]
        bits = code_bits(capture_ms)
        left, right = self.margins
        for r in range(CODE_ROWS):
            row_bits = bits[r * CODE_COLUMNS : (r + 1) * CODE_COLUMNS]
            line = left + b"".join(self.blocks[bit] for bit in row_bits) + right
            for y in range(CODE_Y + r * BLOCK, CODE_Y + (r + 1) * BLOCK):
                frame[y * WIDTH : (y + 1) * WIDTH] = line
        return frame


def ffmpeg_command(
    rtmp_url: str, *, audio_fd: int, bitrate: str = "1000k", gop: int = FPS
) -> list[str]:
    """OBS's low-latency settings: x264 veryfast/zerolatency, CBR, a keyframe every gop frames,
    and AAC audio next to the video as every real encoder sends (silence, paced by the
    camera like the video: lavfi's anullsrc would make ffmpeg spin a core waiting for it)."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "rawvideo", "-pix_fmt", "gray", "-video_size", f"{WIDTH}x{HEIGHT}",
        "-framerate", str(FPS), "-i", "pipe:0",
        # Raw inputs need no probing: without these, ffmpeg reads a second of audio first.
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", f"pipe:{audio_fd}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
        "-c:a", "aac", "-b:a", "96k",
        "-f", "flv", rtmp_url,
    ]  # fmt: skip


class Camera:
    """Feeds ffmpeg FPS frames (and as much audio) a second by the wall clock, stamping
    each frame when it is made.

    Like a real capture device it never waits for the encoder: a frame that finds the
    queue to ffmpeg full is dropped (and counted). Keyframe capture times are kept so the
    bench can tell how long after a keyframe nginx lists the fragment it closes.
    """

    def __init__(
        self, rtmp_url: str, *, bitrate: str, stderr_path: str, keyframe_seconds: float = 1.0
    ) -> None:
        self.rtmp_url = rtmp_url
        self.bitrate = bitrate
        self.gop = max(1, round(FPS * keyframe_seconds))
        self.stderr_path = stderr_path
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None
        self.frames = 0
        self.dropped = 0
        self.keyframe_times: list[float] = []  # wall-clock s of every gop-th frame sent
        self._video: queue.Queue = queue.Queue(maxsize=2)
        self._audio: queue.Queue = queue.Queue(maxsize=4)
        self._audio_fd: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._maker = FrameMaker()

    def start(self) -> None:
        audio_read, self._audio_fd = os.pipe()
        try:
            with open(self.stderr_path, "ab") as stderr:
                self.started_at = time.time()
                self.process = subprocess.Popen(
                    ffmpeg_command(
                        self.rtmp_url, audio_fd=audio_read, bitrate=self.bitrate, gop=self.gop
                    ),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    pass_fds=(audio_read,),
                )
        finally:
            os.close(audio_read)
        for target in (self._generate, self._write_video, self._write_audio):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _generate(self) -> None:
        period = 1 / FPS
        next_tick = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            now = time.time()
            frame = self._maker.frame(self.frames, int(now * 1000))
            self.frames += 1
            try:
                self._video.put_nowait((sent, now, frame))
                sent += 1
            except queue.Full:
                self.dropped += 1
            try:
                self._audio.put_nowait(SILENCE)
            except queue.Full:
                pass
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:
                next_tick = time.monotonic()  # fell behind (machine busy): skip, don't burst

    def _write_video(self) -> None:
        while not self._stop.is_set():
            try:
                index, captured, frame = self._video.get(timeout=0.2)
            except queue.Empty:
                continue
            if index % self.gop == 0:
                self.keyframe_times.append(captured)
            try:
                self.process.stdin.write(frame)
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return

    def _write_audio(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._audio.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                os.write(self._audio_fd, chunk)
            except OSError:
                return

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        self._stop.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # ffmpeg closes the RTMP stream cleanly on SIGTERM
        for thread in self._threads:
            thread.join(timeout=2)
        for close in (lambda: self.process and self.process.stdin.close(),
                      lambda: self._audio_fd is not None and os.close(self._audio_fd)):  # fmt: skip
            try:
                close()
            except OSError:
                pass
        if self.process is None:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
