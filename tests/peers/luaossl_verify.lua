-- Verify a token the way Prosody's token plugin does (luajwtjitsi on luaossl):
-- three parts, header typ == "JWT" and alg == "RS256", the fetched PEM
-- through openssl.pkey.new, RSA-SHA256 over "header.payload", then exp/nbf
-- against os.time() with no leeway. Written for these tests from the
-- documented behaviour; no plugin code is copied.
-- With --plugin G1|G2|G3 it goes on, as the token plugin of that generation
-- does at login: iss in --issuers, aud in --audiences (plain string
-- compare, "*" = any), room unless --no-room, and for G3 sub.
-- usage: lua5.4 luaossl_verify.lua TOKEN_FILE PEM_FILE
--          [--plugin G1|G2|G3] [--issuers a,b] [--audiences a,b] [--no-room] [--alg RS256]
local pkey = require "openssl.pkey"
local digest = require "openssl.digest"
local cjson = require "cjson.safe"

local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local function fail(why) print("REJECTED: " .. why); os.exit(1) end

local b64url_decode = dofile((arg[0]:match("^(.*/)") or "./") .. "b64url.lua")

local opts = { issuers = { "*" }, audiences = { "*" }, room = true, alg = "RS256" }
local function split(v) local t = {}; for x in v:gmatch("[^,]+") do t[#t + 1] = x end; return t end
local i = 3
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--plugin" then opts.plugin = v; i = i + 2
  elseif a == "--issuers" then opts.issuers = split(v); i = i + 2
  elseif a == "--audiences" then opts.audiences = split(v); i = i + 2
  elseif a == "--alg" then opts.alg = v; i = i + 2
  elseif a == "--no-room" then opts.room = false; i = i + 1
  else error("unknown option " .. a) end
end
local function accepted(v, list)
  for _, x in ipairs(list) do
    if x == "*" or x == v then return true end
  end
  return false
end

local token = slurp(arg[1]):gsub("%s+$", "")
local h64, p64, s64 = token:match("^([^.]+)%.([^.]+)%.([^.]+)$")
if not h64 then fail("Invalid token") end
local header = cjson.decode(b64url_decode(h64) or "")
if type(header) ~= "table" then fail("Invalid header") end
local body = cjson.decode(b64url_decode(p64) or "")
if type(body) ~= "table" then fail("Invalid body") end
if header.typ ~= "JWT" then fail("Invalid typ") end
if header.alg ~= opts.alg then fail("Invalid or incorrect alg") end
local key = pkey.new(slurp(arg[2]))
local d = digest.new("sha" .. opts.alg:sub(3))
d:update(h64 .. "." .. p64)
if not key:verify(b64url_decode(s64), d) then fail("Invalid signature") end
if body.exp ~= nil and type(body.exp) ~= "number" then fail("exp must be number") end
if body.nbf ~= nil and type(body.nbf) ~= "number" then fail("nbf must be number") end
local now = os.time()
if type(body.exp) == "number" and now >= body.exp then fail("Not acceptable by exp") end
if type(body.nbf) == "number" and now < body.nbf then fail("Not acceptable by nbf") end
if opts.plugin then
  if body.iss == nil then fail("'iss' claim is missing") end
  if not accepted(body.iss, opts.issuers) then fail("invalid 'iss' claim") end
  if body.aud == nil then fail("'aud' claim is missing") end
  if not accepted(body.aud, opts.audiences) then fail("invalid 'aud' claim") end
  if opts.room and body.room == nil then
    fail(opts.plugin == "G3" and "room claim is missing" or "'room' claim is missing")
  end
  if opts.plugin == "G3" and body.sub == nil then fail("sub claim is missing") end
end
print(cjson.encode({ header = header, claims = body }))
