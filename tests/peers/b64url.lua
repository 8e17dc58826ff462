-- base64url, as JWTs and JWKs use it (no padding).
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local value = {}
for i = 1, #alphabet do value[alphabet:sub(i, i)] = i - 1 end
return function(s)
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
