"""echo.settings for the latency bench's own Django (gunicorn) process.

The only difference: static files are served straight from the finders (static/ and
node_modules/hls.js), so the bench needs no collectstatic into the shared var/static
and always serves the player.js in the working tree.
"""

from echo.settings import *  # noqa: F403

WHITENOISE_USE_FINDERS = True
