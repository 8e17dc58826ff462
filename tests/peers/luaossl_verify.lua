-- Verify a token the way Prosody's token plugin does (luajwtjitsi on luaossl):
-- three parts, header typ == "JWT" and alg == "RS256", the fetched PEM
-- through openssl.pkey.new, RSA-SHA256 over "header.payload", then exp/nbf
-- against os.time() with no leeway. Written for these tests from the
-- documented behaviour; no plugin code is copied.
-- usage: lua5.4 luaossl_verify.lua TOKEN_FILE PEM_FILE
local pkey = require "openssl.pkey"
local digest = require "openssl.digest"
local cjson = require "cjson.safe"

local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local function fail(why) print("REJECTED: " .. why); os.exit(1) end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local value = {}
for i = 1, #alphabet do value[alphabet:sub(i, i)] = i - 1 end
local function b64url_decode(s)
  local out, bits, nbits = {}, 0, 0
  for c in s:gmatch(".") do
    local v = value[c]
    if v == nil then return nil end
    bits = (bits << 6) | v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 0xff)
    end
  end
  return table.concat(out)
end

local token = slurp(arg[1]):gsub("%s+$", "")
local h64, p64, s64 = token:match("^([^.]+)%.([^.]+)%.([^.]+)$")
if not h64 then fail("Invalid token") end
local header = cjson.decode(b64url_decode(h64) or "")
if type(header) ~= "table" then fail("Invalid header") end
local body = cjson.decode(b64url_decode(p64) or "")
if type(body) ~= "table" then fail("Invalid body") end
if header.typ ~= "JWT" then fail("Invalid typ") end
if header.alg ~= "RS256" then fail("Invalid or incorrect alg") end
local key = pkey.new(slurp(arg[2]))
local d = digest.new("sha256")
d:update(h64 .. "." .. p64)
if not key:verify(b64url_decode(s64), d) then fail("Invalid signature") end
local now = os.time()
if type(body.exp) == "number" and now >= body.exp then fail("Not acceptable by exp") end
if type(body.nbf) == "number" and now < body.nbf then fail("Not acceptable by nbf") end
print(cjson.encode({ header = header, claims = body }))
