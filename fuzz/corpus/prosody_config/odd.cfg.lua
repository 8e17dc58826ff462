VirtualHost("a")
 authentication = [==[token]==]
 app_id = "\x41\065" .. x
 asap_accepted_issuers = { ["k"] = "v", { "n" } }
