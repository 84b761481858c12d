-- One wrk script for every scenario, configured by the environment:
--   BENCH_METHOD  GET | POST                 BENCH_PATH   path; "{id}" becomes a random id
--   BENCH_IDS     ids are 1..BENCH_IDS        BENCH_BODY   request body (JSON), if any
--   BENCH_TOKEN   bearer token, if any     BENCH_CLIENTS  if > 0, X-Forwarded-For: one of
--                                            this many addresses at random per request
-- When the run ends it prints one line: BENCHJSON {...} with the counts and latencies.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
local ids = tonumber(os.getenv("BENCH_IDS") or "1")
local clients = tonumber(os.getenv("BENCH_CLIENTS") or "0")
local random_id = string.find(path, "{id}", 1, true) ~= nil

local headers = {}
if body and body ~= "" then
  headers["Content-Type"] = "application/json"
else
  body = nil
end
if token and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end

local fixed = wrk.format(method, path, headers, body)

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  if not random_id and clients == 0 then
    return fixed
  end
  local p = path
  if random_id then
    p = string.gsub(path, "{id}", tostring(math.random(1, ids)))
  end
  if clients > 0 then
    local n = math.random(0, clients - 1)
    headers["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  end
  return wrk.format(method, p, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
