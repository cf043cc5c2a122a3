-- wrk script for the HTTP row: POST /api/v1/orders with the same orders as the other rows.
-- Usage: wrk -s bench/wrk_orders.lua <url> -- <hot|spread> <run tag>
-- Hot: 1 unit of HOT-0001. Spread: 1 unit each of 3 distinct SKUs among SKU-0001..SKU-1000.
-- Every request carries a fresh Idempotency-Key, a client address (X-Forwarded-For) and an e-mail of its own.
-- done() prints one line "BENCH_JSON {...}".

local counter = 1
local threads = {}

function setup(thread)
    thread:set("tid", counter)
    table.insert(threads, thread)
    counter = counter + 1
end

function init(args)
    case = args[1] or "hot"
    run = args[2] or "r"
    seq = 0
    math.randomseed(os.time() * 1000 + tid)
    path = "/api/v1/orders"
    headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
end

local function sku(n)
    return string.format("SKU-%04d", n)
end

local function lines()
    if case == "hot" then
        return '[{"sku":"HOT-0001","quantity":1}]'
    end
    local a = math.random(0, 999)
    local b = (a + math.random(1, 499)) % 1000
    local c = (b + math.random(1, 499)) % 1000
    return string.format('[{"sku":"%s","quantity":1},{"sku":"%s","quantity":1},{"sku":"%s","quantity":1}]',
        sku(a + 1), sku(b + 1), sku(c + 1))
end

function request()
    seq = seq + 1
    headers["Idempotency-Key"] = string.format("wrk-%s-%d-%d", run, tid, seq)
    -- every order from a client of its own, its address (the server trusts one proxy) and e-mail:
    -- customers, not one hoarder held to SHOP_MAX_HELD_UNITS
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", tid % 256, math.floor(seq / 256) % 256, seq % 256)
    local body = string.format('{"status":"confirmed","customer":{"name":"Bench Client","email":"bench-%s-%d-%d@example.com"},',
        run, tid, seq) .. '"lines":' .. lines() .. '}'
    return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
        .. '"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
