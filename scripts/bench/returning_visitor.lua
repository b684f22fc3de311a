-- A browser coming back: it sends its visitor cookie (bench.sh passes the
-- one its first visit got), so it is counted once, then "Not counted:
-- session key has active hit". No answer sets the cookie again, unless
-- BENCH_VISIT_COUNTS=true keeps visit counts in it (one more per answer).
wrk.headers["User-Agent"] = "Mozilla/5.0 (bench returning browser)"
wrk.headers["Cookie"] = os.getenv("BENCH_VISITOR")
