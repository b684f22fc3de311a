-- Every request is the same visitor (no cookie, same address and agent):
-- counted once, then "Not counted: session key has active hit".
wrk.headers["User-Agent"] = "Mozilla/5.0 (bench repeat visitor)"
