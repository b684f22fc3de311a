-- A browser coming back: it sends its visitor cookie (bench.sh passes the
-- one its first visit got), so it is counted once, then "Not counted:
-- session key has active hit"; each answer sets the cookie again with one
-- more visit.
wrk.headers["User-Agent"] = "Mozilla/5.0 (bench returning browser)"
wrk.headers["Cookie"] = os.getenv("BENCH_VISITOR")
