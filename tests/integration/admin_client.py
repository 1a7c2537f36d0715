"""A small client for geodnsd's admin API (stdlib only), for tests."""
import json
import os
import urllib.error
import urllib.request

TOKEN = "it-ops-token-0123456789"


def write_token_file(directory, name="ops", token=TOKEN):
    path = os.path.join(directory, "admin.token")
    with open(path, "w") as f:
        f.write("# test token\n%s:%s\n" % (name, token))
    os.chmod(path, 0o600)
    return path


class Api:
    def __init__(self, port, token=TOKEN):
        self.base = "http://127.0.0.1:%d" % port
        self.token = token

    def call(self, method, path, body=None, token="default", raw=None, headers=None):
        """Returns (status, parsed JSON or text, response headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        tok = self.token if token == "default" else token
        if tok is not None:
            req.add_header("Authorization", "Bearer " + tok)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text, hdrs = r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            status, text, hdrs = e.code, e.read().decode(), e.headers
        try:
            return status, json.loads(text), hdrs
        except ValueError:
            return status, text, hdrs

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body if body is not None else {}, **kw)
