-- wrk: GET PATH_PREFIX?from=..&to=.. with a different period of about a year on every
-- request (over 100,000 combinations), so that no cache answers. The token comes from TOKEN.
local token = os.getenv("TOKEN")
local prefix = os.getenv("PATH_PREFIX")

function request()
    local year = math.random(2024, 2025)
    local path = string.format("%s?from=%d-%02d-%02d&to=%d-%02d-%02d", prefix,
        year, math.random(1, 12), math.random(1, 28), year + 1, math.random(1, 12), math.random(1, 28))
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
