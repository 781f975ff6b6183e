-- wrk script: POST /api/v1/auth/login with the benchmark account.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "' .. os.getenv("BENCH_EMAIL") .. '", "password": "' .. os.getenv("BENCH_PASSWORD") .. '"}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  for status, n in pairs(statuses) do
    io.write(string.format("status %d: %d\n", status, n))
  end
end
