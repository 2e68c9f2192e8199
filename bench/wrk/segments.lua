-- wrk script for bench/viewers.py, the other half of a viewer: one segment fetch per
-- fragment per connection, always the newest segment the origin lists. bench/viewers.py
-- writes that name to ECHO_BENCH_NEWEST as soon as it sees it; each thread reads the
-- file again every few requests.
local newest_file = os.getenv("ECHO_BENCH_NEWEST")
local period_ms = tonumber(os.getenv("ECHO_BENCH_PERIOD_MS") or "1000")
local newest = nil
local since_read = 1000

local function read_newest()
  local file = io.open(newest_file, "r")
  if file then
    local name = file:read("*l")
    file:close()
    if name and name ~= "" then newest = name end
  end
end

function delay()
  return math.floor(period_ms * (0.5 + math.random()))
end

function request()
  since_read = since_read + 1
  if since_read > 20 or not newest then
    read_newest()
    since_read = 0
  end
  return wrk.format("GET", "/hls/" .. (newest or "none.ts"))
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
