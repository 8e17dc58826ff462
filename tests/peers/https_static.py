"""A static file server over TLS, for testing https key fetches on loopback.
usage: https_static.py ROOT CERT_PEM KEY_PEM  -> prints "port N" then serves ROOT on 127.0.0.1"""
import functools
import http.server
import ssl
import sys

root, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print(f"port {httpd.server_address[1]}", flush=True)
httpd.serve_forever()
