-- wrk script for `make bench-pages`: GET one storefront page; done() prints one line "BENCH_JSON {...}".
-- Usage: wrk -s bench/wrk_pages.lua -H "Cookie: session=..." <url of the page>
-- "status" counts answers that are not 2xx or 3xx; bench/pages.py checks each page answers 200 first.

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
        .. '"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
