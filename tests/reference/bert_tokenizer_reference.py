#!/usr/bin/env python3
"""A plain-Python BertTokenizer, standard library only, for cross-checking
src/text/bert_tokenizer.cc (whose Unicode data comes from ICU, not from Python).

It follows Hugging Face transformers' slow BertTokenizer step by step:
  * PreTrainedTokenizer.tokenize: with do_lower_case, every character outside the
    special tokens is lower-cased on its own (re.sub with "(.+?)"); then the special
    tokens are cut out of the text whole (tokens_trie.split);
  * BasicTokenizer.tokenize: _clean_text, _tokenize_chinese_chars, NFC,
    whitespace_tokenize, lower() + _run_strip_accents, _run_split_on_punc;
  * WordpieceTokenizer.tokenize: greedy longest match, "##" continuations,
    more than 100 characters -> [UNK];
  * convert_tokens_to_ids.

Usage:
  bert_tokenizer_reference.py VOCAB TEXTS OUT
TEXTS is JSON Lines: {"text": str, "lower_case": bool, "strip_accents": null|bool,
"tokenize_chinese_chars": bool}. OUT gets one JSON line per text:
{"ids": [...], "unassigned": [code points unassigned in Python's Unicode]} where
"unassigned" lists the text's characters that Python's unicodedata (its Unicode
version is printed) classifies Cn, the only place where it and a newer ICU may
legitimately disagree.
"""

import json
import re
import sys
import unicodedata

SPECIALS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]


def load_vocab(path):
    vocab = {}
    with open(path, "r", encoding="utf-8") as f:
        for index, token in enumerate(f.readlines()):
            vocab[token.rstrip("\n")] = index
    return vocab


def whitespace_tokenize(text):
    text = text.strip()
    return text.split() if text else []


def is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class BasicTokenizer:
    def __init__(self, do_lower_case, strip_accents, tokenize_chinese_chars):
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars

    def tokenize(self, text, never_split):
        text = self.clean_text(text)
        if self.tokenize_chinese_chars:
            text = "".join(" " + c + " " if is_chinese_char(ord(c)) else c for c in text)
        text = unicodedata.normalize("NFC", text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if token not in never_split:
                if self.do_lower_case:
                    token = token.lower()
                    if self.strip_accents is not False:
                        token = self.run_strip_accents(token)
                elif self.strip_accents:
                    token = self.run_strip_accents(token)
            split_tokens.extend(self.run_split_on_punc(token, never_split))
        return whitespace_tokenize(" ".join(split_tokens))

    @staticmethod
    def clean_text(text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)

    @staticmethod
    def run_strip_accents(text):
        text = unicodedata.normalize("NFD", text)
        return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")

    @staticmethod
    def run_split_on_punc(text, never_split):
        if text in never_split:
            return [text]
        output = []
        start_new_word = True
        for ch in text:
            if is_punctuation(ch):
                output.append([ch])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(ch)
        return ["".join(x) for x in output]


def wordpiece(token, vocab, max_chars=100):
    chars = list(token)
    if len(chars) > max_chars:
        return ["[UNK]"]
    pieces = []
    start = 0
    while start < len(chars):
        end = len(chars)
        cur = None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def split_specials(text):
    """tokens_trie.split for the BERT special tokens (none is a prefix of another)."""
    pattern = "(" + "|".join(re.escape(s) for s in SPECIALS) + ")"
    return [part for part in re.split(pattern, text) if part]


def tokenize(text, vocab, lower_case, strip_accents, chinese):
    if lower_case:
        pattern = "(" + "|".join(re.escape(s) for s in SPECIALS) + r")|(.+?)"
        text = re.sub(pattern, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
    basic = BasicTokenizer(lower_case, strip_accents, chinese)
    tokens = []
    for part in split_specials(text):
        if part in SPECIALS:
            tokens.append(part)
            continue
        for word in basic.tokenize(part, set(SPECIALS)):
            tokens.extend(wordpiece(word, vocab))
    unk = vocab["[UNK]"]
    return [vocab.get(t, unk) for t in tokens]


def main():
    vocab_path, texts_path, out_path = sys.argv[1:4]
    vocab = load_vocab(vocab_path)
    with open(texts_path, encoding="utf-8") as f, open(out_path, "w", encoding="utf-8") as out:
        for line in f:
            case = json.loads(line)
            text = case["text"]
            ids = tokenize(text, vocab, case["lower_case"], case["strip_accents"],
                           case["tokenize_chinese_chars"])
            unassigned = sorted({ord(c) for c in text if unicodedata.category(c) == "Cn"})
            out.write(json.dumps({"ids": ids, "unassigned": unassigned}) + "\n")
    print("unicodedata " + unicodedata.unidata_version)


if __name__ == "__main__":
    main()
