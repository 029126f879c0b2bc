-- wrk script for tests/reliability/test_load.py: a mix of good reads and bad API
-- requests against `loralpha serve`, each answer checked against the status
-- its request expects.
--
-- Run with one connection per thread (wrk -t N -c N): a thread's answers
-- then come in the order of its requests, one at a time. Environment:
--   LA_LOAD_SWEEP   a sweep id to read (default 1)
--   LA_LOAD_RUN     a run id to read (default 1)
--   LA_WRK_HEADERS  extra header lines sent with every request
--                   ("Name: value", one per line)
-- done() prints one line: LOAD good_ok=.. good_bad=.. bad_ok=.. bad_bad=..
-- first=<the first unexpected answer>.

local sweep = os.getenv("LA_LOAD_SWEEP") or "1"
local run = os.getenv("LA_LOAD_RUN") or "1"

local function headers(more)
  local h = {}
  for line in (os.getenv("LA_WRK_HEADERS") or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then h[k] = v end
  end
  for k, v in pairs(more or {}) do h[k] = v end
  return h
end

local json = {["Content-Type"] = "application/json"}
-- method, path, extra headers, body, expected status; good ones first
local mix = {
  {"GET", "/v1/health", nil, nil, 200},
  {"GET", "/v1/sweeps", nil, nil, 200},
  {"GET", "/v1/sweeps/" .. sweep, nil, nil, 200},
  {"GET", "/v1/sweeps/" .. sweep .. "/runs?limit=50", nil, nil, 200},
  {"GET", "/v1/runs/" .. run, nil, nil, 200},
  {"GET", "/metrics", nil, nil, 200},
  {"GET", "/v2/nothing", nil, nil, 404},
  {"GET", "/v1/sweeps/abc", nil, nil, 404},
  {"GET", "/v1/sweeps/987654", nil, nil, 404},
  {"GET", "/v1/sweeps/" .. sweep .. "/runs?limit=0", nil, nil, 400},
  {"GET", "/v1/sweeps/" .. sweep .. "/runs?state=bogus", nil, nil, 400},
  {"POST", "/v1/sweeps", json, '{"name": ', 400},
  {"POST", "/v1/sweeps", json, '{"name": "x"}', 422},
  {"POST", "/v1/sweeps", json, '{"name": "x", "grid": {"rank": "4"}}', 422},
  {"PUT", "/v1/sweeps/" .. sweep, json, "{}", 405},
  {"DELETE", "/v1/sweeps", nil, nil, 405},
  {"POST", "/v1/sweeps", {["Content-Type"] = "text/plain"}, "x", 415},
  {"GET", "/v1/sweeps", {Authorization = "Bearer " .. string.rep("x", 64)}, nil, 401},
  {"POST", "/v1/sweeps/" .. sweep .. "/cancel", {Authorization = "Basic eDp5"}, nil, 401},
}

local reqs, want, good = {}, {}, {}
-- the request now on the wire; it moves on only when its answer has come
-- (wrk also calls request() once before connecting, to count pipelining)
local cur = 1
good_ok, good_bad, bad_ok, bad_bad, first = 0, 0, 0, 0, ""

function init(args)
  for k, m in ipairs(mix) do
    reqs[k] = wrk.format(m[1], m[2], headers(m[3]), m[4])
    want[k] = m[5]
    good[k] = m[5] == 200
  end
end

function request()
  return reqs[cur]
end

function response(status, hdrs, body)
  local k = cur
  cur = cur % #reqs + 1
  local ok = status == want[k]
  if good[k] then
    if ok then good_ok = good_ok + 1 else good_bad = good_bad + 1 end
  else
    if ok then bad_ok = bad_ok + 1 else bad_bad = bad_bad + 1 end
  end
  if not ok and first == "" then
    first = mix[k][1] .. " " .. mix[k][2] .. " -> " .. status
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local t = {good_ok = 0, good_bad = 0, bad_ok = 0, bad_bad = 0}
  local f = ""
  for _, th in ipairs(threads) do
    for k in pairs(t) do t[k] = t[k] + th:get(k) end
    if f == "" then f = th:get("first") end
  end
  io.write(string.format(
    "LOAD good_ok=%d good_bad=%d bad_ok=%d bad_bad=%d requests=%d " ..
    "duration_us=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p99_us=%d max_us=%d first=%s\n",
    t.good_ok, t.good_bad, t.bad_ok, t.bad_bad, summary.requests,
    summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, f))
end
