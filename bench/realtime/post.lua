-- wrk script for bench/realtime: POST requests, non-2xx responses counted and reported.
--
--   wrk … -s bench/realtime/post.lua <url>                 POST /predict {"user_id": 0..9999, "item_id": 0..999}
--   wrk … -s bench/realtime/post.lua <url> -- BODY_FILE     POST the URL's path with BODY_FILE as the body, every time
--   wrk … -s bench/realtime/post.lua <url> -- BODY_FILE 'Name: value'…   the same with these headers (Content-Type too)
--
-- done() prints one line `wrk-lua {json}` with the non-2xx count (and the first such status
-- and body) plus exact latency percentiles in microseconds: a run with errors must be
-- flagged, never reported as a good figure.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local users, items = 10000, 1000
local fixed = nil
non2xx = 0
first_status = 0
first_body = ""

function init(args)
  -- Per-thread seed: otherwise every thread sends the same id sequence.
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[1] ~= nil then
    local f = assert(io.open(args[1], "rb"))
    wrk.body = f:read("*a")
    f:close()
    for i = 2, #args do
      local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
      assert(name, "a header argument must read 'Name: value': " .. args[i])
      if string.lower(name) == "content-type" then wrk.headers["Content-Type"] = nil end
      wrk.headers[name] = value
    end
    fixed = wrk.format()
  end
end

function request()
  if fixed ~= nil then
    return fixed
  end
  -- math.random(m, n) is inclusive on both ends.
  local body = string.format('{"user_id":%d,"item_id":%d}', math.random(0, users - 1), math.random(0, items - 1))
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_status == 0 then
      first_status = status
      first_body = string.sub(body or "", 1, 300)
    end
  end
end

local function quote(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local bad, status, body = 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    if status == 0 and t:get("first_status") ~= 0 then
      status = t:get("first_status")
      body = t:get("first_body")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'wrk-lua {"requests":%d,"durationUs":%d,"bytes":%d,"non2xx":%d,"firstStatus":%d,"firstBody":%s,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, bad, status, quote(body),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
