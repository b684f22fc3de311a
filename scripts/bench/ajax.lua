-- The AJAX endpoint, a new visitor per request. bench.sh passes the page's
-- pk, token and CSRF token in the environment.
local n = 0
-- Distinct in every run (bench.sh sets BENCH_RUN for each wrk): a
-- visitor of an earlier round, or of the other wrk of a two-instance run,
-- would be a repeat visit.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local csrf = os.getenv("BENCH_CSRF")
local body = "hitcountPK=" .. os.getenv("BENCH_PK") .. "&hitcountToken=" .. os.getenv("BENCH_TOKEN")
request = function()
  n = n + 1
  return wrk.format("POST", wrk.path, {
    ["User-Agent"] = "Mozilla/5.0 (bench ajax " .. run .. "-" .. n .. ")",
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. csrf,
    ["X-CSRFToken"] = csrf,
  }, body)
end
