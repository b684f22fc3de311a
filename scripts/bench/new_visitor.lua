-- Every request is a new visitor: no cookie, a user agent never seen.
local n = 0
-- Distinct in every run (bench.sh sets BENCH_RUN for each wrk): a
-- visitor of an earlier round, or of the other wrk of a two-instance run,
-- would be a repeat visit.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
request = function()
  n = n + 1
  return wrk.format("GET", wrk.path, { ["User-Agent"] = "Mozilla/5.0 (bench " .. run .. "-" .. n .. ")" })
end
