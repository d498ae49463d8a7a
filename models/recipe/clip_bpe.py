"""CLIP byte-level BPE (OpenAI CLIP's simple_tokenizer, without ftfy), from vocab.json + merges.txt."""
import html
import json
import re
import unicodedata

PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+""", re.IGNORECASE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipBpe:
    def __init__(self, vocab_path, merges_path):
        with open(vocab_path) as f:
            self.vocab = json.load(f)
        with open(merges_path) as f:
            lines = [l for i, l in enumerate(f.read().split("\n")) if l.strip() and not (i == 0 and l.startswith("#version"))]
        self.ranks = {tuple(l.split()): i for i, l in enumerate(lines)}
        self.byte_map = bytes_to_unicode()
        self.cache = {}
        self.start = self.vocab["<|startoftext|>"]
        self.end = self.vocab["<|endoftext|>"]

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), None), i) for i in range(len(word) - 1)]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            _, i = min(pairs)
            first, second = word[i], word[i + 1]
            merged, j = [], 0
            while j < len(word):
                if j < len(word) - 1 and word[j] == first and word[j + 1] == second:
                    merged.append(first + second)
                    j += 2
                else:
                    merged.append(word[j])
                    j += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text):
        text = html.unescape(html.unescape(unicodedata.normalize("NFC", text)))
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = [self.start]
        for match in PATTERN.findall(text):
            token = "".join(self.byte_map[b] for b in match.encode("utf-8"))
            ids.extend(self.vocab[piece] for piece in self.bpe(token))
        ids.append(self.end)
        return ids

    def encode_padded(self, text, length):
        ids = self.encode(text)
        if len(ids) > length:
            ids = ids[: length - 1] + [self.end]
        return ids + [self.end] * (length - len(ids))
