-- Replays requests from a file of "METHOD PATH" lines (presigned URLs for the engine, plain paths
-- for nginx). PUT bodies are BODY_SIZE bytes of one shared string, so wrk's memory stays small.
local lines = {}
local body = nil
local idx = 0
local thread_count = 0

-- Each wrk thread starts at its own place in the list, so threads don't hit the same keys.
setup = function(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

init = function(args)
  local file = args[1]
  local size = tonumber(args[2] or "0")
  local spread = tonumber(args[3] or "0")
  for line in io.lines(file) do
    local method, path = line:match("^(%S+) (%S+)$")
    lines[#lines + 1] = { method, path }
  end
  if size > 0 then body = string.rep("x", size) end
  idx = ((thread_index or 0) * spread) % #lines
end

request = function()
  idx = idx % #lines + 1
  local item = lines[idx]
  if item[1] == "PUT" then
    return wrk.format("PUT", item[2], { ["Content-Length"] = tostring(#body) }, body)
  end
  return wrk.format(item[1], item[2])
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
