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
