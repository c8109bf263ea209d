-- wrk script: each thread walks the request paths listed (one per line) in
-- the file named after "--", starting at a random line, so that a run
-- spreads over many ids or queries instead of repeating one.
local paths = {}
local at = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  at = math.random(#paths)
end

function request()
  at = at % #paths + 1
  return wrk.format("GET", paths[at])
end
