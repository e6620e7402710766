-- contrib/seed-api/seed_api.lua: the product description's /api/v3 paths in front of PostgREST,
-- for nginx's Lua module (Debian: libnginx-mod-http-lua, lua-cjson). Each request is matched
-- against routes.tsv and becomes the PostgREST call of its api function: the URI /rpc/<name>,
-- the path's segment put into the JSON body (POST) or the query string (GET) under the
-- argument the route names. A seed-style id ("ml_model_1") names the object with that id:
-- "#1", or the number 1 for an argument called id. See docs/http.md ("The seed's endpoints").
local cjson = require("cjson.safe")

local M = {}
local routes = {}

-- Read the route table once, when nginx starts (init_by_lua).
function M.load(path)
	routes = {}
	for line in io.lines(path) do
		if line ~= "" and line:sub(1, 1) ~= "#" then
			local method, seed_path, fn, arg = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)$")
			if not method then
				error("routes.tsv: not a route: " .. line)
			end
			local has_param = false
			local pattern = seed_path:gsub("[%-%.%+%*%?%^%$%%]", "%%%0")
			pattern = pattern:gsub("{%w+}", function()
				has_param = true
				return "([^/]+)"
			end)
			routes[#routes + 1] = {
				method = method,
				pattern = "^" .. pattern .. "$",
				fn = fn,
				arg = arg ~= "-" and arg or nil,
				has_param = has_param,
			}
		end
	end
	return #routes
end

local function seed_id(value, arg)
	local n = value:match("^[a-z_]+_(%d+)$")
	if not n then
		return value
	end
	if arg == "id" then
		return tonumber(n)
	end
	return "#" .. n
end

-- The rewrite phase of a request under the seed's paths.
function M.rewrite()
	local method = ngx.req.get_method()
	local uri = ngx.var.uri
	for _, r in ipairs(routes) do
		local segment = r.method == method and uri:match(r.pattern)
		if segment then
			local value = r.has_param and segment or nil
			if method == "GET" then
				if r.arg and value then
					local args = ngx.req.get_uri_args()
					args[r.arg] = seed_id(value, r.arg)
					ngx.req.set_uri_args(args)
				end
			else
				ngx.req.read_body()
				local raw = ngx.req.get_body_data()
				if raw == nil and ngx.req.get_body_file() then
					return ngx.exit(ngx.HTTP_REQUEST_ENTITY_TOO_LARGE)
				end
				local body = {}
				if raw and raw:match("%S") then
					local decoded, err = cjson.decode(raw)
					if type(decoded) ~= "table" then
						ngx.status = ngx.HTTP_BAD_REQUEST
						ngx.header["Content-Type"] = "application/json"
						ngx.say(cjson.encode({ message = "the body is not a JSON object", details = err }))
						return ngx.exit(ngx.HTTP_BAD_REQUEST)
					end
					body = decoded
				end
				if r.arg and value then
					body[r.arg] = seed_id(value, r.arg)
				end
				ngx.req.set_body_data(cjson.encode(body))
				ngx.req.set_header("Content-Type", "application/json")
			end
			ngx.req.set_uri("/rpc/" .. r.fn, false)
			return
		end
	end
	return ngx.exit(ngx.HTTP_NOT_FOUND)
end

return M
