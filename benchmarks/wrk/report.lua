-- Shared tail of every benchmark script (benchmarks/run.py appends it to the scenario's).
--
-- Counts responses that are not 2xx per thread, and those a scenario's optional
-- check_body(body) rejects, and prints one parseable line from done():
--   GUMSHOE_BENCH {"requests":..,"duration_us":..,"p50_us":..,"p99_us":..,"non2xx":..,...}

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

non2xx = 0
bad_body = 0
exhausted = 0
local reported = 0

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if reported < 3 then
         reported = reported + 1
         io.stderr:write("non-2xx response ", status, ": ", string.sub(body or "", 1, 300), "\n")
      end
   elseif check_body ~= nil and not check_body(body) then
      bad_body = bad_body + 1
      if reported < 3 then
         reported = reported + 1
         io.stderr:write("unexpected 2xx body: ", string.sub(body or "", 1, 300), "\n")
      end
   end
end

function done(summary, latency, requests)
   local n2, bb, ex = 0, 0, 0
   for _, t in ipairs(threads) do
      n2 = n2 + (t:get("non2xx") or 0)
      bb = bb + (t:get("bad_body") or 0)
      ex = ex + (t:get("exhausted") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'GUMSHOE_BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"non2xx":%d,"bad_body":%d,"exhausted":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, n2, bb, ex, e.connect, e.read, e.write, e.timeout, e.status))
end
