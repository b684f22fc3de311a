-- Every request is a new visitor on one of 1 000 objects in turn (posts
-- 1000 to 1999): a site whose readers spread over many pages. The bare
-- route, run with this script beside it, keeps its own path.
local n = 0
-- Distinct in every run (bench.sh sets BENCH_RUN for each wrk): a
-- visitor of an earlier round, or of the other wrk of a two-instance run,
-- would be a repeat visit.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
request = function()
  n = n + 1
  local path = wrk.path
  if path ~= "/bare" then
    path = "/post/" .. (1000 + n % 1000)
  end
  return wrk.format("GET", path, { ["User-Agent"] = "Mozilla/5.0 (bench " .. run .. "-" .. n .. ")" })
end
