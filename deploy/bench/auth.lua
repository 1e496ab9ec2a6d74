-- wrk: the same request every time, with the bearer token from TOKEN (never on wrk's
-- command line, where any user of the machine could read it in the process list).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
