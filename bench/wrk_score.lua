-- wrk script: POST one sentence per request to /score (or PATH), cycling through a file of JSON
-- bodies, and print a JSON summary. Usage: wrk -t1 -cN -dSs -s bench/wrk_score.lua URL -- BODIES_FILE [PATH]
local bodies = {}
local index = 0
local path = "/score"

init = function(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  path = args[2] or path
end

request = function()
  index = index % #bodies + 1
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[index])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
