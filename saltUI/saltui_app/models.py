"""Classifier models through the ``joytrain`` package (saltUI/joytrain/).

The API used (written by the joy-train work; imported lazily)::

    from joytrain import model as jtm
    m = jtm.train(pos_records, neg_records, penalty="l2", C=1.0, seed=0)
    m.save(path)
    jtm.load(path).score(record) -> float      # load also takes Joy's "SPLT_FILE:BD_FILE"

When ``joytrain`` cannot be imported, saltUI still shows flows and the scores
already present in records (``p_malware``); loading, training and scoring
with a model are disabled and the API says why.
"""

import os
import shutil
import threading

from .store import new_id


def load_api():
    """(joytrain.model module or None, message)."""
    try:
        from joytrain import model as jtm          # noqa: WPS433 (lazy on purpose)
    except Exception as exc:                       # ImportError, or a broken package
        return None, ("the joytrain package is not available (%s: %s): training and scoring "
                      "with a model are disabled; scores already in the records (p_malware) "
                      "are still shown" % (type(exc).__name__, exc))
    missing = [name for name in ("train", "load") if not callable(getattr(jtm, name, None))]
    if missing:
        return None, "joytrain.model lacks %s: training and scoring are disabled" % ", ".join(
            missing)
    return jtm, "joytrain is available"


class Models:
    """The models known to this server and the current choice."""

    def __init__(self, directory):
        self.directory = directory
        self.api, self.message = load_api()
        self.models = {}            # id -> {"id", "name", "source", "path", "model"}
        self.current = None
        self.lock = threading.Lock()

    @property
    def available(self):
        return self.api is not None

    def info(self):
        with self.lock:
            return {"available": self.available, "message": self.message,
                    "current": self.current,
                    "models": [{"id": m["id"], "name": m["name"], "source": m["source"],
                                "downloadable": m["path"] is not None}
                               for m in self.models.values()]}

    def _require(self):
        if not self.available:
            raise ModelError(self.message, 503)

    def add_file(self, spec, name, source, copy=True):
        """Load a model file (or Joy's ``SPLT:BD`` pair, not copied); returns its id."""
        self._require()
        ident = new_id()
        path = None
        if copy:
            path = os.path.join(self.directory, ident + ".model")
            try:
                shutil.copyfile(spec, path)
            except OSError as exc:
                raise ModelError("cannot read the model file %s: %s"
                                 % (spec, exc.strerror or exc))
            spec = path
        try:
            model = self.api.load(spec)
        except Exception as exc:
            if path:
                os.unlink(path)
            raise ModelError("not a model joytrain can load: %s" % _short(exc))
        if not callable(getattr(model, "score", None)):
            raise ModelError("joytrain.model.load returned an object without score()")
        with self.lock:
            self.models[ident] = {"id": ident, "name": name[:200], "source": source,
                                  "path": path, "model": model}
        return ident

    def train(self, positive, negative, penalty="l2", C=1.0, seed=0, name="trained model"):
        """Train on two lists of records; the model is saved, added and returned by id."""
        self._require()
        try:
            model = self.api.train(positive, negative, penalty=penalty, C=C, seed=seed)
        except Exception as exc:
            raise ModelError("training failed: %s" % _short(exc))
        ident = new_id()
        path = os.path.join(self.directory, ident + ".model")
        try:
            model.save(path)
        except Exception as exc:
            raise ModelError("the trained model could not be saved: %s" % _short(exc), 500)
        with self.lock:
            self.models[ident] = {"id": ident, "name": name[:200], "source": "trained",
                                  "path": path, "model": model}
        return ident

    def select(self, ident):
        with self.lock:
            if ident is not None and ident not in self.models:
                raise ModelError("no such model", 404)
            self.current = ident

    def get(self, ident):
        with self.lock:
            return self.models.get(ident)

    def current_model(self):
        with self.lock:
            if self.current is None:
                return None, None
            return self.current, self.models[self.current]["model"]


class ModelError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _short(exc):
    text = "%s" % (exc,) or type(exc).__name__
    return text.splitlines()[0][:300] if text else type(exc).__name__
