-- wrk script for bench/status.py: GET status.json as fast as the connections allow, and
-- count the answers the origin's nginx had to ask Django for (X-Echo-Cache: MISS, or no
-- such header when wrk talks to gunicorn itself).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  misses = 0
end

function response(status, headers, body)
  if headers["X-Echo-Cache"] ~= "HIT" then
    misses = misses + 1
  end
end

function done(summary, latency, requests)
  local total_misses = 0
  for _, thread in ipairs(threads) do
    total_misses = total_misses + thread:get("misses")
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "django_requests": %d, ' ..
    '"latency_p50_ms": %.2f, "latency_p99_ms": %.2f}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status,
    total_misses, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
