-- wrk: POST /v1/commands with a new organisation per request, every commandId unique
-- (threads get distinct prefixes). The token comes from the environment (TOKEN).
local counter = 0
local threads = 0
local token = os.getenv("TOKEN")

function setup(thread)
    threads = threads + 1
    thread:set("prefix", string.format("%d-%d", os.time(), threads))
end

function request()
    counter = counter + 1
    local id = string.format("W-%s-%d", prefix, counter)
    local body = string.format(
        '{"command":"registerOrganisation","commandId":"%s","organisationId":"%s","name":"Benchmark group %s",'
            .. '"country":"KZ","regionCode":"KZ-43","settlement":"rural","registrationStatus":"unregistered",'
            .. '"leadershipGender":"women","kind":"informalGroup"}', id, id, id)
    return wrk.format("POST", "/v1/commands",
        {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

-- After the run: the latency percentiles wrk's own summary leaves out (p99.9), in ms.
function done(summary, latency, requests)
    io.write(string.format("latency-ms p50=%.2f p99=%.2f p99.9=%.2f\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
