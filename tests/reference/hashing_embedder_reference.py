#!/usr/bin/python3
"""Independent reference for the `hashing` embedder, and its cross-check against the C++ one.

Usage: /usr/bin/python3 hashing_embedder_reference.py EMBED_TESTS_BINARY

Runs the GoogleTest HashingEmbedderPythonDump.WritesVectorsWhenAsked of EMBED_TESTS_BINARY with
WEAKDISTILL_EMBED_DUMP_DIR set to a temporary folder, where it writes manifest.json (the texts, the
labeled texts it fitted on and each configuration) and one raw little-endian float32 matrix per
configuration. Each matrix must equal embed() below to 1e-5 in every element, and a row must be
all zero exactly where the reference's is.

embed() follows the definition in include/weakdistill/embed/hashing_embedder.h, written from that
text rather than from the C++: whitespace is what str.isspace() says, n-grams are slices of the
str, FNV-1a runs over str.encode("utf-8"), and df is counted on the n-gram strings themselves.
Needs numpy (Debian: python3-numpy).
"""

import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np

TOLERANCE = 1e-5
FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64(data):
    h = FNV_OFFSET_BASIS
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def ngrams(text, min_n, max_n):
    """Counter of the character n-grams (min_n..max_n) of text without its whitespace."""
    kept = "".join(c for c in text if not c.isspace())
    return Counter(kept[i:i + n] for n in range(min_n, max_n + 1) for i in range(len(kept) - n + 1))


def fit_idf(labeled, min_n, max_n):
    """(idf by n-gram string, idf of an unseen n-gram): ln((1 + N) / (1 + df)) + 1."""
    df = Counter()
    for text in labeled:
        df.update(set(ngrams(text, min_n, max_n)))
    n = len(labeled)
    idf = {g: math.log((1 + n) / (1 + d)) + 1 for g, d in df.items()}
    return idf, math.log(1 + n) + 1


def embed(texts, labeled, dim, min_n, max_n, sublinear_tf):
    """float64 matrix, one L2-normalised (or zero) row per text."""
    idf, unseen = fit_idf(labeled, min_n, max_n)
    out = np.zeros((len(texts), dim))
    for row, text in enumerate(texts):
        for g, tf in ngrams(text, min_n, max_n).items():
            h = fnv1a64(g.encode("utf-8"))
            weight = (1 + math.log(tf) if sublinear_tf else tf) * idf.get(g, unseen)
            out[row, h % dim] += -weight if h >> 63 else weight
        norm = np.linalg.norm(out[row])
        if norm > 0:
            out[row] /= norm
    return out


def self_check():
    """The FNV authors' test vectors, so that a wrong hash fails here and not as a mismatch."""
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2])
        return 2
    self_check()
    with tempfile.TemporaryDirectory(prefix="weakdistill-embed-") as tmp:
        env = dict(os.environ, WEAKDISTILL_EMBED_DUMP_DIR=tmp)
        run = subprocess.run(
            [argv[1], "--gtest_filter=HashingEmbedderPythonDump.WritesVectorsWhenAsked"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0 or not os.path.exists(os.path.join(tmp, "manifest.json")):
            print(run.stdout)
            print("FAIL: %s did not write the vectors (exit %d)" % (argv[1], run.returncode))
            return 1
        with open(os.path.join(tmp, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        texts, labeled = manifest["texts"], manifest["labeled"]
        failures = 0
        for config in manifest["configs"]:
            dim = config["dim"]
            got = np.fromfile(os.path.join(tmp, config["file"]), dtype="<f4")
            if got.size != len(texts) * dim:
                print("FAIL %s: %d floats, expected %d" % (config, got.size, len(texts) * dim))
                failures += 1
                continue
            got = got.reshape(len(texts), dim).astype(np.float64)
            want = embed(texts, labeled, dim, config["min_n"], config["max_n"],
                         config["sublinear_tf"])
            diff = np.abs(got - want).max(axis=1)
            zero_mismatch = (np.abs(got).sum(axis=1) == 0) != (np.abs(want).sum(axis=1) == 0)
            bad = np.nonzero((diff > TOLERANCE) | zero_mismatch)[0]
            for i in bad[:5]:
                print("FAIL %s: text %d %r differs by %.3g" % (config, i, texts[i][:40], diff[i]))
            failures += len(bad)
            print("%s: %d texts (%d fitted), %d zero rows, max |diff| %.3g" % (
                {k: config[k] for k in ("dim", "min_n", "max_n", "sublinear_tf")}, len(texts),
                len(labeled), int((np.abs(want).sum(axis=1) == 0).sum()), diff.max()))
        if failures:
            print("FAIL: %d rows differ from the reference" % failures)
            return 1
    print("OK: C++ hashing embedder equals the Python reference to %g" % TOLERANCE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
