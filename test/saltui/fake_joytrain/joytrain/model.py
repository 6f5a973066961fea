"""Test stand-in for joytrain.model: a one-feature logistic model (mean packet length)."""
import json
import math

MAGIC = "fake-joytrain-model 1"


def _feature(record):
    packets = record.get("packets") if isinstance(record, dict) else None
    sizes = [p.get("b") for p in packets or [] if isinstance(p, dict)
             and isinstance(p.get("b"), (int, float))]
    return sum(sizes) / len(sizes) if sizes else 0.0


class Model:
    def __init__(self, middle, scale):
        self.middle, self.scale = float(middle), float(scale)

    def score(self, record):
        z = (_feature(record) - self.middle) / self.scale
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def save(self, path):
        with open(path, "w") as handle:
            handle.write(MAGIC + "\n" + json.dumps({"middle": self.middle, "scale": self.scale})
                         + "\n")


def train(pos_records, neg_records, penalty="l2", C=1.0, seed=0):
    pos, neg = list(pos_records), list(neg_records)
    if not pos or not neg:
        raise ValueError("both sets need records")
    mp = sum(map(_feature, pos)) / len(pos)
    mn = sum(map(_feature, neg)) / len(neg)
    scale = (mp - mn) / 8.0 or 1.0
    return Model((mp + mn) / 2.0, scale)


def load(path):
    if ":" in path:
        try:
            open(path).close()
        except OSError:
            raise ValueError("this stand-in does not read Joy's SPLT:BD pairs")
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read(1 << 20).splitlines()
    if not lines or lines[0] != MAGIC:
        raise ValueError("not a %s file" % MAGIC)
    try:
        data = json.loads(lines[1])
        return Model(data["middle"], data["scale"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise ValueError("damaged model file: %s" % exc)
