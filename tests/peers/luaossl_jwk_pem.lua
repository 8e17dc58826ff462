-- Turn one entry of a JWKS into a public key the way the token plugin of
-- 2025-11 and later must (RSA n and e -> a key luaossl's pkey.new takes),
-- and print it as PEM. Written for these tests: the SPKI DER is built here
-- from n and e; no plugin code is copied.
-- usage: lua5.4 luaossl_jwk_pem.lua JWKS_FILE KID
local pkey = require "openssl.pkey"
local cjson = require "cjson.safe"

local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end

local b64url_decode = dofile((arg[0]:match("^(.*/)") or "./") .. "b64url.lua")

-- DER: tag, length, content.
local function der(tag, content)
  local n = #content
  local len
  if n < 0x80 then
    len = string.char(n)
  else
    local bytes = {}
    while n > 0 do table.insert(bytes, 1, string.char(n & 0xff)); n = n >> 8 end
    len = string.char(0x80 | #bytes) .. table.concat(bytes)
  end
  return string.char(tag) .. len .. content
end
local function integer(unsigned)
  if unsigned:byte(1) >= 0x80 then unsigned = "\0" .. unsigned end
  return der(0x02, unsigned)
end

local jwks = assert(cjson.decode(slurp(arg[1])), "not JSON")
for _, k in ipairs(jwks.keys) do
  if k.kid == arg[2] then
    assert(k.kty == "RSA", "not an RSA key")
    local rsa_key = der(0x30, integer(assert(b64url_decode(k.n), "n is not base64url")) .. integer(assert(b64url_decode(k.e), "e is not base64url")))
    local algorithm = der(0x30, der(0x06, "\42\134\72\134\247\13\1\1\1") .. der(0x05, ""))
    local spki = der(0x30, algorithm .. der(0x03, "\0" .. rsa_key))
    io.write(pkey.new(spki, "DER"):toPEM("public"))
    os.exit(0)
  end
end
io.stderr:write("kid not in the JWKS\n")
os.exit(1)
