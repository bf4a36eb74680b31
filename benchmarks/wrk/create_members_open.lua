-- CreateMembers in open auth mode: every request adds 50 new accounts to a graph.
--
-- Expects (from the generated prologue) GRAPHS and ADMINS (parallel arrays: graph ARN and
-- its administrator account), MEMBER_BASE (first member account id), PER_GRAPH (requests
-- a graph can take before its 1,200-member quota), AMZ_DATE and SCOPE_DATE.
-- Request i goes to graph i % #GRAPHS and adds accounts MEMBER_BASE + 50*i .. + 49, so no
-- two requests repeat an account and each graph fills in turn; wrk's first argument offsets
-- i (a warm-up run takes the first ones).

local counter = 0
local capacity = #GRAPHS * PER_GRAPH

function init(args)
   counter = tonumber(args[1] or "0")
end

local function account(n)
   -- ids below 10^12 fit a double exactly; format as 12 digits
   return string.format("%012.0f", n)
end

function request()
   local i = counter
   counter = counter + 1
   if i >= capacity then
      exhausted = exhausted + 1
   end
   local g = (i % #GRAPHS) + 1
   local admin = ADMINS[g]
   local parts = {}
   local base = MEMBER_BASE + 50 * i
   for j = 0, 49 do
      local id = account(base + j)
      parts[j + 1] = '{"AccountId":"' .. id .. '","EmailAddress":"member-' .. id .. '@example.com"}'
   end
   local body = '{"GraphArn":"' .. GRAPHS[g] .. '","Accounts":[' .. table.concat(parts, ",") .. ']}'
   local headers = {
      ["Content-Type"] = "application/json",
      ["X-Amz-Date"] = AMZ_DATE,
      ["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. admin .. "/" .. SCOPE_DATE ..
         "/us-east-1/detective/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00",
   }
   return wrk.format("POST", "/graph/members", headers, body)
end

function check_body(body)
   -- all 50 accounts created: nothing left unprocessed
   return string.find(body, '"UnprocessedAccounts":[]', 1, true) ~= nil
end
