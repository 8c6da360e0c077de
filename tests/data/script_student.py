#!/usr/bin/env python3
"""A tiny external student for tests of the `command` protocol (docs/STUDENTS.md).

  script_student.py train --task T --train F --dev F --model DIR
  script_student.py predict --task T --model DIR --input F --output F [--reverse]

classification: character naive Bayes; ner: a gazetteer of training entities
(longest match); summarization: the first N characters, N the mean summary
length. --reverse writes the predictions in reverse order (with their ids), to
test that the caller realigns them.
"""
import argparse
import json
import math
import os
import sys
from collections import Counter, defaultdict


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def train(a):
    data = read(a.train)
    model = {"task": a.task}
    if a.task == "classification":
        labels = Counter(d["label"] for d in data)
        chars = defaultdict(Counter)
        for d in data:
            chars[d["label"]].update(d["text"])
        model.update(labels=labels, chars={k: dict(v) for k, v in chars.items()})
    elif a.task == "ner":
        model["gazetteer"] = sorted({(e["text"] if "text" in e else d["text"][e["start"]:e["end"]], e["type"])
                                     for d in data for e in d["entities"]})
    else:
        model["length"] = round(sum(len(d["summary"]) for d in data) / len(data))
    with open(os.path.join(a.model, "model.json"), "w", encoding="utf-8") as f:
        json.dump(model, f, ensure_ascii=False)


def predict_one(model, text):
    if model["task"] == "classification":
        vocab = {c for v in model["chars"].values() for c in v}
        total = sum(model["labels"].values())
        logp = {}
        for label, n in model["labels"].items():
            counts = model["chars"][label]
            denom = sum(counts.values()) + len(vocab) + 1
            logp[label] = math.log(n / total) + sum(math.log((counts.get(c, 0) + 1) / denom) for c in text)
        top = max(logp.values())
        z = sum(math.exp(v - top) for v in logp.values())
        probs = {k: math.exp(v - top) / z for k, v in logp.items()}
        return {"label": max(probs, key=probs.get), "scores": probs}
    if model["task"] == "ner":
        entities, i = [], 0
        gaz = sorted(model["gazetteer"], key=lambda g: -len(g[0]))
        while i < len(text):
            for name, typ in gaz:
                if text.startswith(name, i):
                    entities.append({"start": i, "end": i + len(name), "type": typ})
                    i += len(name)
                    break
            else:
                i += 1
        return {"entities": entities, "scores": {"log_prob": -1.5}}
    return {"summary": text[: model["length"]], "scores": {"log_prob": -2.5}}


def predict(a):
    with open(os.path.join(a.model, "model.json"), encoding="utf-8") as f:
        model = json.load(f)
    out = []
    for d in read(a.input):
        p = predict_one(model, d["text"])
        p["id"] = d["id"]
        out.append(p)
    if a.reverse:
        out.reverse()
    with open(a.output, "w", encoding="utf-8") as f:
        for p in out:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("verb", choices=["train", "predict"])
    p.add_argument("--task", required=True)
    p.add_argument("--train")
    p.add_argument("--dev")
    p.add_argument("--model", required=True)
    p.add_argument("--input")
    p.add_argument("--output")
    p.add_argument("--reverse", action="store_true")
    a = p.parse_args()
    train(a) if a.verb == "train" else predict(a)


if __name__ == "__main__":
    sys.exit(main())
