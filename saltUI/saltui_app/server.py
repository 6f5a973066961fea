"""saltUI: a local web page for joy's flow records (Python standard library only).

    saltui [--port P] [--host H] [--model FILE] [--joy PATH] [--max-upload SIZE]

Pages (plain HTML + JS from ``static/``; data is fetched from the API and shown
with textContent, never as HTML):

  /                  upload joy output or a capture; choose, upload or train a model
  /flows/ID          the flows of upload ID: sortable, filterable, paginated table
  /flows/ID/N        flow N of upload ID: packet lengths/times plot, byte distribution
                     heat map, TLS/DNS/HTTP details, raw record

API (JSON; every POST needs the header ``X-Saltui: 1``, which a cross-site form
cannot send):

  POST /api/upload[?name=F]        body: the file -> {"id", "flows", "skipped_lines", ...}
  GET  /api/uploads                the uploads of this session
  GET  /api/flows/ID               array of flow objects; ?offset=&limit=&sort=[-]FIELD
                                   &addr=&port=&pr=&sni=&score_min=&score_max= (total in
                                   the X-Total-Count header)
  GET  /api/flows/ID/N             {"index", "flow": {...}, "record": {...}}
  GET  /api/models                 {"available", "message", "current", "models": [...]}
  POST /api/models[?name=F]        body: a model file -> {"id"}
  POST /api/models/select          {"id": ID or null}
  GET  /api/models/ID/download     the model file
  POST /api/train                  {"positive": UPLOAD, "negative": UPLOAD, "penalty": "l2",
                                    "C": 1.0, "seed": 0} -> {"model", "download"}

Uploads and models live in a temporary directory removed when the server exits.
"""

import argparse
import atexit
import html
import json
import math
import mimetypes
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import store
from .models import ModelError, Models

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(os.path.dirname(HERE), "static")
VERSION = "1.0.0"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SORT_FIELDS = ("index",) + store.COLUMNS + ("duration", "score")
MAX_JSON_BODY = 1 << 20


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _load_static():
    """{url path: (bytes, content type)} of every file under static/ (read once)."""
    files = {}
    for root, _dirs, names in os.walk(STATIC):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, STATIC).replace(os.sep, "/")
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript",):
                ctype += "; charset=utf-8"
            if name.endswith(".md") or name.endswith(".LICENSE"):
                ctype = "text/plain; charset=utf-8"
            with open(path, "rb") as handle:
                files["/static/" + rel] = (handle.read(), ctype)
    return files


class App:
    """State shared by the request handlers."""

    def __init__(self, workdir, joy, max_upload, allowed_hosts):
        self.workdir = workdir
        self.joy = joy
        self.max_upload = max_upload
        self.allowed_hosts = allowed_hosts
        self.uploads = {}
        self.lock = threading.Lock()
        self.models = Models(os.path.join(workdir, "models"))
        os.makedirs(self.models.directory, exist_ok=True)
        self.static = _load_static()

    # -- uploads -----------------------------------------------------------------------
    def add_upload(self, stream, length, name):
        raw = store.receive(stream, length, self.workdir, self.max_upload)
        path = raw
        try:
            path, kind = store.prepare(raw, self.workdir, self.joy, self.max_upload)
            upload = store.Upload(os.path.basename(path)[:-len(".jsonl")], name, path, kind)
            store.parse(upload)
        except BaseException:
            for leftover in (raw, path, raw[:-len(".upload")] + ".gunzip",
                             raw[:-len(".upload")] + ".jsonl"):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
            raise
        with self.lock:
            self.uploads[upload.id] = upload
        return upload

    def upload(self, ident):
        if not isinstance(ident, str) or not store.ID_RE.match(ident):
            raise HttpError(404, "no such upload")
        with self.lock:
            upload = self.uploads.get(ident)
        if upload is None:
            raise HttpError(404, "no such upload (uploads last as long as the server runs)")
        return upload

    def scores(self, upload):
        """(list of scores or None, source): the current model's, else p_malware."""
        model_id, model = self.models.current_model()
        if model is None:
            column = store.COLUMNS.index("p_malware")
            return [row[column] for row in upload.rows], "record"
        with upload.lock:
            cached = upload.scores.get(model_id)
            if cached is None:
                cached = []
                for record in upload.iter_records():
                    try:
                        value = float(model.score(record))
                        cached.append(value if math.isfinite(value) else None)
                    except Exception:
                        cached.append(None)
                upload.scores[model_id] = cached
        return cached, "model"


def flow_object(index, row, score, source):
    obj = {"index": index}
    for name, value in zip(store.COLUMNS, row):
        obj[name] = value
    start, end = obj["time_start"], obj["time_end"]
    obj["duration"] = (end - start) if start is not None and end is not None else None
    obj["proto"] = store.PROTOCOLS.get(obj["pr"], obj["pr"])
    obj["score"] = score
    obj["score_source"] = source if score is not None else None
    return obj


def _int_param(params, name, default, low, high):
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise HttpError(400, "%s must be a whole number" % name)
    if not low <= value <= high:
        raise HttpError(400, "%s must be between %d and %d" % (name, low, high))
    return value


def _float_param(params, name):
    if name not in params or params[name] == "":
        return None
    try:
        value = float(params[name])
    except ValueError:
        raise HttpError(400, "%s must be a number" % name)
    if not math.isfinite(value):
        raise HttpError(400, "%s must be a finite number" % name)
    return value


def select_flows(app, upload, params):
    """(total matching, list of flow objects) for the query parameters."""
    rows = upload.rows
    scores, source = app.scores(upload)
    col = {name: i for i, name in enumerate(store.COLUMNS)}
    tests = []
    addr = params.get("addr", "").strip()
    if addr:
        sa, da = col["sa"], col["da"]
        tests.append(lambda r, s: addr in (r[sa] or "") or addr in (r[da] or ""))
    port = params.get("port", "").strip()
    if port:
        try:
            port_n = int(port)
        except ValueError:
            raise HttpError(400, "port must be a whole number")
        sp, dp = col["sp"], col["dp"]
        tests.append(lambda r, s: r[sp] == port_n or r[dp] == port_n)
    proto = params.get("pr", "").strip().lower()
    if proto:
        names = {v: k for k, v in store.PROTOCOLS.items()}
        try:
            proto_n = names[proto] if proto in names else int(proto)
        except ValueError:
            raise HttpError(400, "pr must be a protocol number or one of %s"
                            % ", ".join(sorted(names)))
        pr = col["pr"]
        tests.append(lambda r, s: r[pr] == proto_n)
    sni = params.get("sni", "").strip().lower()
    if sni:
        sc = col["sni"]
        tests.append(lambda r, s: r[sc] is not None and sni in r[sc].lower())
    low, high = _float_param(params, "score_min"), _float_param(params, "score_max")
    if low is not None:
        tests.append(lambda r, s: s is not None and s >= low)
    if high is not None:
        tests.append(lambda r, s: s is not None and s <= high)
    indices = [i for i in range(len(rows)) if all(t(rows[i], scores[i]) for t in tests)] \
        if tests else list(range(len(rows)))
    sort = params.get("sort", "")
    if sort:
        field = sort.lstrip("-")
        if field not in SORT_FIELDS:
            raise HttpError(400, "sort must be one of %s (prefix - for descending)"
                            % ", ".join(SORT_FIELDS))
        descending = sort.startswith("-")
        if field == "index":
            key = None
        elif field == "score":
            def key(i):
                return scores[i]
        elif field == "duration":
            ts, te = col["time_start"], col["time_end"]

            def key(i):
                r = rows[i]
                return None if r[ts] is None or r[te] is None else r[te] - r[ts]
        else:
            c = col[field]

            def key(i):
                return rows[i][c]
        if key is None:
            if descending:
                indices.reverse()
        else:
            present = [i for i in indices if key(i) is not None]
            missing = [i for i in indices if key(i) is None]
            present.sort(key=key, reverse=descending)
            indices = present + missing              # missing values always last
    total = len(indices)
    offset = _int_param(params, "offset", 0, 0, 1 << 40)
    limit = _int_param(params, "limit", total, 0, 1 << 40)
    page = indices[offset:offset + limit]
    return total, [flow_object(i, rows[i], scores[i], source) for i in page]


class Handler(BaseHTTPRequestHandler):
    server_version = "saltUI/" + VERSION
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 120
    app = None                  # set by make_server

    # -- plumbing -----------------------------------------------------------------------
    def log_message(self, fmt, *args):
        text = fmt % args
        sys.stderr.write("saltui: %s %s\n" % (self.address_string(),
                                              text.encode("ascii", "backslashreplace")
                                              .decode("ascii").replace("\x1b", "\\x1b")))

    def _headers(self, status, ctype, length, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send_body(self, status, body, ctype, extra=()):
        self._headers(status, ctype, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, status=200, extra=()):
        body = json.dumps(obj, ensure_ascii=True, separators=(",", ":"),
                          allow_nan=False).encode("ascii")
        self.send_body(status, body, "application/json; charset=utf-8", extra)

    def send_error_page(self, status, message):
        if self.path.startswith("/api/"):
            self.send_json({"error": message, "status": status}, status)
            return
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        body = ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
                "<title>saltUI: %d %s</title><link rel=stylesheet href=/static/app.css></head>"
                "<body><header><a href=/>saltUI</a></header><main><h1>%d %s</h1>"
                "<p class=error id=error>%s</p><p><a href=/>Back to the start page</a></p>"
                "</main></body></html>" % (status, html.escape(phrase), status,
                                           html.escape(phrase), html.escape(message)))
        self.send_body(status, body.encode("utf-8"), "text/html; charset=utf-8")

    def _check_host(self):
        allowed = self.app.allowed_hosts
        if allowed is None:
            return True
        host = (self.headers.get("Host") or "").lower()
        if host in allowed:
            return True
        self.close_connection = True
        self.send_error_page(421, "unexpected Host header %r: saltUI answers only to %s"
                             % (host[:100], ", ".join(sorted(allowed))))
        return False

    def _dispatch(self, routes):
        if not self._check_host():
            return
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        try:
            for pattern, handler in routes:
                match = pattern.fullmatch(path)
                if match:
                    handler(self, params, *match.groups())
                    return
            raise HttpError(404, "no such page")
        except HttpError as exc:
            self.send_error_page(exc.status, str(exc))
        except (store.UploadError, ModelError) as exc:
            if exc.status == 413:
                self.close_connection = True
            self.send_error_page(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:                          # never a traceback to the client
            self.log_message("internal error on %s: %r", path, exc)
            self.close_connection = True
            self.send_error_page(500, "internal error (%s); see the server's log"
                                 % type(exc).__name__)

    def do_GET(self):
        self._dispatch(GET_ROUTES)

    def do_HEAD(self):
        self._dispatch(GET_ROUTES)

    def do_POST(self):
        if self.headers.get("X-Saltui") != "1":
            self.close_connection = True
            self.send_error_page(403, "POST requests need the header 'X-Saltui: 1' (the page "
                                 "sends it; a cross-site form cannot)")
            return
        self._dispatch(POST_ROUTES)

    def do_PUT(self):
        self.close_connection = True
        self.send_error_page(405, "method not allowed")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT

    def body_length(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise HttpError(411, "send the file with a Content-Length (chunked uploads are "
                                 "not accepted)")
        value = self.headers.get("Content-Length")
        if value is None or not value.strip().isdigit():
            self.close_connection = True
            raise HttpError(411, "a Content-Length header is needed")
        return int(value)

    def json_body(self):
        length = self.body_length()
        if length > MAX_JSON_BODY:
            self.close_connection = True
            raise HttpError(413, "request body too large")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, RecursionError):
            raise HttpError(400, "the request body must be a JSON object")
        if not isinstance(body, dict):
            raise HttpError(400, "the request body must be a JSON object")
        return body

    # -- pages ---------------------------------------------------------------------------
    def page(self, name):
        body, ctype = self.app.static["/static/" + name]
        self.send_body(200, body, ctype)

    def get_index(self, params):
        self.page("index.html")

    def get_flows_page(self, params, ident):
        self.app.upload(ident)
        self.page("flows.html")

    def get_flow_page(self, params, ident, number):
        upload = self.app.upload(ident)
        if int(number) >= len(upload.rows):
            raise HttpError(404, "upload has %d flows; there is no flow %s"
                            % (len(upload.rows), number[:20]))
        self.page("flow.html")

    def get_static(self, params):
        path = urllib.parse.urlsplit(self.path).path
        item = self.app.static.get(path)
        if item is None:
            raise HttpError(404, "no such file")
        self.send_body(200, item[0], item[1])

    def get_favicon(self, params):
        self.send_body(204, b"", "image/x-icon")

    # -- API -----------------------------------------------------------------------------
    def post_upload(self, params):
        length = self.body_length()
        name = params.get("name", "upload")[:200]
        try:
            upload = self.app.add_upload(self.rfile, length, name)
        except store.UploadError as exc:
            if exc.status == 413:
                self.close_connection = True
            raise
        self.send_json(upload.info(), 201)

    def get_uploads(self, params):
        with self.app.lock:
            uploads = list(self.app.uploads.values())
        self.send_json([u.info() for u in uploads])

    def get_flows(self, params, ident):
        upload = self.app.upload(ident)
        total, flows = select_flows(self.app, upload, params)
        self.send_json(flows, extra=[("X-Total-Count", str(total))])

    def get_flow(self, params, ident, number):
        upload = self.app.upload(ident)
        index = int(number)
        if index >= len(upload.rows):
            raise HttpError(404, "upload has %d flows; there is no flow %s"
                            % (len(upload.rows), number[:20]))
        scores, source = self.app.scores(upload)
        self.send_json({"index": index, "upload": upload.info(),
                        "flow": flow_object(index, upload.rows[index], scores[index], source),
                        "record": upload.record(index)})

    def get_models(self, params):
        self.send_json(self.app.models.info())

    def post_model(self, params):
        models = self.app.models
        if not models.available:
            raise ModelError(models.message, 503)
        length = self.body_length()
        raw = store.receive(self.rfile, length, self.app.workdir, self.app.max_upload)
        try:
            ident = models.add_file(raw, params.get("name", "uploaded model"), "uploaded")
        finally:
            os.unlink(raw)
        self.send_json({"id": ident}, 201)

    def post_model_select(self, params):
        body = self.json_body()
        ident = body.get("id")
        if ident is not None and not isinstance(ident, str):
            raise HttpError(400, "id must be a model id or null")
        self.app.models.select(ident)
        self.send_json(self.app.models.info())

    def get_model_download(self, params, ident):
        entry = self.app.models.get(ident)
        if entry is None:
            raise HttpError(404, "no such model")
        if entry["path"] is None:
            raise HttpError(404, "this model was loaded from files given on the command line")
        with open(entry["path"], "rb") as handle:
            body = handle.read()
        self.send_body(200, body, "application/octet-stream",
                       [("Content-Disposition", 'attachment; filename="joy-model-%s.txt"'
                         % ident[:12])])

    def post_train(self, params):
        models = self.app.models
        if not models.available:
            raise ModelError(models.message, 503)
        body = self.json_body()
        try:
            pos = self.app.upload(body.get("positive"))
            neg = self.app.upload(body.get("negative"))
        except HttpError:
            raise HttpError(400, "positive and negative must be ids of uploads")
        penalty = body.get("penalty", "l2")
        if penalty not in ("l1", "l2"):
            raise HttpError(400, "penalty must be l1 or l2")
        c_value = body.get("C", 1.0)
        seed = body.get("seed", 0)
        if isinstance(c_value, bool) or not isinstance(c_value, (int, float)) or \
                not math.isfinite(c_value) or c_value <= 0:
            raise HttpError(400, "C must be a positive number")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise HttpError(400, "seed must be a whole number")
        name = body.get("name") if isinstance(body.get("name"), str) else \
            "trained on %s / %s" % (pos.name, neg.name)
        ident = models.train(list(pos.iter_records()), list(neg.iter_records()),
                             penalty=penalty, C=float(c_value), seed=seed, name=name)
        if body.get("select", True):
            models.select(ident)
        self.send_json({"model": ident, "download": "/api/models/%s/download" % ident,
                        "models": models.info()}, 201)


_ID = r"([A-Za-z0-9_-]{1,64})"
_N = r"([0-9]{1,12})"
GET_ROUTES = [
    (re.compile(r"/"), Handler.get_index),
    (re.compile(r"/flows/%s/?" % _ID), Handler.get_flows_page),
    (re.compile(r"/flows/%s/%s" % (_ID, _N)), Handler.get_flow_page),
    (re.compile(r"/static/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*"), Handler.get_static),
    (re.compile(r"/favicon\.ico"), Handler.get_favicon),
    (re.compile(r"/api/uploads"), Handler.get_uploads),
    (re.compile(r"/api/flows/%s" % _ID), Handler.get_flows),
    (re.compile(r"/api/flows/%s/%s" % (_ID, _N)), Handler.get_flow),
    (re.compile(r"/api/models"), Handler.get_models),
    (re.compile(r"/api/models/%s/download" % _ID), Handler.get_model_download),
]
POST_ROUTES = [
    (re.compile(r"/api/upload"), Handler.post_upload),
    (re.compile(r"/api/models"), Handler.post_model),
    (re.compile(r"/api/models/select"), Handler.post_model_select),
    (re.compile(r"/api/train"), Handler.post_train),
]


def parse_size(text):
    match = re.fullmatch(r"\s*(\d+)\s*([kmgKMG]?)i?[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError("%r is not a size (e.g. 500M, 2G, 1048576)" % text)
    return int(match.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[
        match.group(2).lower()]


def find_joy(explicit=None):
    """--joy, then ../joy beside saltUI/ (the repository), joy beside the launcher
    (an installed bin/), then joy on PATH."""
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    launcher = os.environ.get("SALTUI_SCRIPT", "")
    candidates = [os.path.join(os.path.dirname(STATIC), os.pardir, "joy")]
    if launcher:
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(launcher)), "joy"))
    for path in candidates:
        path = os.path.normpath(path)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return shutil.which("joy")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="saltui", description="saltUI: look at joy's flow records in a web browser "
        "(upload joy output or a capture; flows table, per-flow plots, classifier scores).")
    parser.add_argument("--port", type=int, default=8080,
                        help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--model", action="append", default=[], metavar="FILE",
                        help="load a joytrain model file (or Joy's SPLT_FILE:BD_FILE pair) and "
                             "score flows with it; may be repeated, the first is chosen")
    parser.add_argument("--joy", metavar="PATH", help="joy binary for capture uploads")
    parser.add_argument("--max-upload", type=parse_size, default=parse_size("512M"),
                        metavar="SIZE", help="largest upload accepted, also after gzip "
                        "decompression (default 512M)")
    parser.add_argument("--version", action="version", version="saltui " + VERSION)
    return parser


def make_server(args, workdir):
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    allowed = None
    if loopback:
        allowed = {"127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port}
    app = App(workdir, find_joy(args.joy), args.max_upload, allowed)
    for spec in args.model:
        copy = ":" not in spec or os.path.isfile(spec)
        name = os.path.basename(spec)
        ident = app.models.add_file(spec, name, "command line", copy=copy)
        if app.models.current is None:
            app.models.select(ident)
    handler = type("BoundHandler", (Handler,), {"app": app})
    server.RequestHandlerClass = handler
    return server, app


def main(argv=None):
    args = build_parser().parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="saltui-")
    atexit.register(store.remove_files, workdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server, app = make_server(args, workdir)
    except ModelError as exc:
        sys.stderr.write("saltui: --model: %s\n" % exc)
        return 2
    except OSError as exc:
        sys.stderr.write("saltui: cannot listen on %s port %d: %s\n"
                         % (args.host, args.port, exc.strerror or exc))
        return 1
    host, port = server.server_address[:2]
    shown = "[%s]" % host if ":" in host else host
    print("saltUI listening on http://%s:%d/" % (shown, port), flush=True)
    if not app.models.available:
        print("saltui: note: %s" % app.models.message, file=sys.stderr, flush=True)
    if app.joy is None:
        print("saltui: note: no joy binary found: capture uploads are disabled (--joy PATH)",
              file=sys.stderr, flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("saltui: warning: listening on %s: anyone who can reach it can upload files"
              % args.host, file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.remove_files(workdir)
    return 0
