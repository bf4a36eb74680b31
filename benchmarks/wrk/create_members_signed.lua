-- CreateMembers in sigv4 mode: wrk cannot sign, so benchmarks/run.py signs the requests
-- beforehand with botocore (valid for 15 minutes) and the generated prologue holds them,
-- complete HTTP/1.1 requests, in REQUESTS. They are sent in order; each adds 50 accounts
-- no other request adds. Running past the end would repeat requests that create nothing:
-- those are counted as exhausted (and fail check_body), so run.py reports the shortfall.

local counter = 0

function init(args)
   counter = tonumber(args[1] or "0")
end

function request()
   local i = counter
   counter = counter + 1
   if i >= #REQUESTS then
      exhausted = exhausted + 1
   end
   return REQUESTS[(i % #REQUESTS) + 1]
end

function check_body(body)
   return string.find(body, '"UnprocessedAccounts":[]', 1, true) ~= nil
end
