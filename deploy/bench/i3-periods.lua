-- wrk: GET /v1/indicators/i3 with a different period on every request (about 225,000
-- combinations), so that the report cache does not answer. The token comes from TOKEN.
local token = os.getenv("TOKEN")

function request()
    local path = string.format("/v1/indicators/i3?from=%d-%02d-%02d&to=2026-%02d-%02d",
        math.random(2024, 2025), math.random(1, 12), math.random(1, 28), math.random(1, 12), math.random(1, 28))
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
