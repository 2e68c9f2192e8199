"""Past broadcasts and clips: recordings nginx-rtmp writes (models, services), the jobs
that turn them into replays and clips (jobs.py, run by `manage.py run_worker`), reads
shared by pages and the API (selectors.py), and the admin. ffmpeg's side is
streams/media/recordings.py; pages are streams/web/replays.py, the API
streams/api/replays.py."""
