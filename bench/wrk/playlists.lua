-- wrk script for bench/viewers.py, half of a viewer: the playlist polls. Each connection
-- asks for the playlist ECHO_BENCH_POLLS times per ECHO_BENCH_PERIOD_MS (the fragment
-- length), jittered, as static/js/playlist-loader.js polls until the next fragment shows.
-- The segments are fetched by segments.lua (its own wrk: segment bodies are not copied
-- into Lua there, which is what made one wrk for both the bottleneck).
local polls = tonumber(os.getenv("ECHO_BENCH_POLLS") or "4")
local period_ms = tonumber(os.getenv("ECHO_BENCH_PERIOD_MS") or "1000")
local gap = period_ms / polls

function delay()
  return math.floor(gap * (0.5 + math.random()))
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "latency_p50_ms": %.2f, ' ..
    '"latency_p99_ms": %.2f}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
