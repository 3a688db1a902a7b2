-- wrk script for benches/load/run.sh when oha is not installed: counts every status code,
-- optionally draws each request's token at random from a file (one URL path per line:
-- TARGETS=<file>), and prints the result as one JSON object in oha's shape
-- (summary.requestsPerSec, summary.successRate, latencyPercentiles.p99 in seconds,
-- statusCodeDistribution, errorDistribution).

local threads = {}
local targets = nil

local function read_targets(path)
  local list = {}
  for line in io.lines(path) do
    if #line > 0 then list[#list + 1] = line end
  end
  return list
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  local path = os.getenv("TARGETS")
  if path and #path > 0 then
    targets = read_targets(path)
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  end
end

function request()
  if targets then
    return wrk.format(nil, targets[math.random(#targets)])
  end
  return wrk.format()
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local thread_codes = thread:get("codes")
    for status, count in pairs(thread_codes) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  local ok = 0
  for status, count in pairs(total) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
    if status < 400 then ok = ok + count end
  end
  local errors = {}
  for _, name in ipairs({ "connect", "read", "write", "timeout" }) do
    if summary.errors[name] > 0 then
      errors[#errors + 1] = string.format('"%s": %d', name, summary.errors[name])
    end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"summary": {"requestsPerSec": %f, "successRate": %f, "total": %d}, ' ..
    '"latencyPercentiles": {"p50": %f, "p99": %f}, ' ..
    '"statusCodeDistribution": {%s}, "errorDistribution": {%s}}\n',
    summary.requests / seconds, ok / math.max(summary.requests, 1), summary.requests,
    latency:percentile(50) / 1e6, latency:percentile(99) / 1e6,
    table.concat(parts, ", "), table.concat(errors, ", ")))
end
