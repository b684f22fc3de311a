-- Every request is a new visitor: no cookie, a user agent never seen.
local n = 0
local run = math.random(1, 1000000000)
request = function()
  n = n + 1
  return wrk.format("GET", wrk.path, { ["User-Agent"] = "Mozilla/5.0 (bench " .. run .. "-" .. n .. ")" })
end
