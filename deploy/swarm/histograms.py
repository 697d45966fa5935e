#!/usr/bin/env python3
"""Reads orygate's latency histograms without orygate: HdrHistogram's V2
encoding, deflate-compressed and base64 (as reports/src/latency.rs writes
them), decoded here from the format's definition.

  histograms.py MERGED.json SHARD.json... STEP

Checks that the merged document's histogram of STEP is the sum of the
shards' (bucket by bucket), and that its p50, p95 and p99 are those of
that one histogram of every request, as HdrHistogram reads a percentile
(the highest value equivalent to the first bucket whose running count
reaches the rank).
"""
import base64
import json
import math
import struct
import sys
import zlib

# The cookies' base values; bits 4-7 carry the format's word size (0x10
# for V2).
V2_COMPRESSED = 0x1C849304
V2 = 0x1C849303


def base(cookie):
    return cookie & ~0xF0


def decode(text):
    raw = base64.b64decode(text)
    cookie, length = struct.unpack(">ii", raw[:8])
    assert base(cookie) == V2_COMPRESSED, hex(cookie)
    inner = zlib.decompress(raw[8 : 8 + length])
    cookie, payload, offset, digits, lowest, highest, _ratio = struct.unpack(">iiiiqqd", inner[:40])
    assert base(cookie) == V2 and offset == 0, (hex(cookie), offset)
    counts, data, i = [], inner[40 : 40 + payload], 0
    while i < len(data):
        # LEB128 of at most 9 bytes, the ninth carrying 8 bits.
        value = 0
        for k in range(9):
            byte = data[i]
            i += 1
            if k == 8:
                value |= byte << 56
                break
            value |= (byte & 0x7F) << (7 * k)
            if not byte & 0x80:
                break
        value = (value >> 1) ^ -(value & 1)  # ZigZag
        if value < 0:
            counts.extend([0] * -value)
        else:
            counts.append(value)
    return Histogram(counts, digits, lowest)


class Histogram:
    def __init__(self, counts, digits, lowest):
        self.counts, self.digits, self.lowest = counts, digits, lowest
        largest = 2 * 10**digits
        self.sub_bucket_count = 2 ** math.ceil(math.log2(largest))
        self.half_magnitude = int(math.log2(self.sub_bucket_count)) - 1
        self.half_count = self.sub_bucket_count // 2
        self.unit = int(math.floor(math.log2(lowest)))

    def highest_equivalent(self, index):
        bucket = (index >> self.half_magnitude) - 1
        sub = (index & (self.half_count - 1)) + self.half_count
        if bucket < 0:
            sub -= self.half_count
            bucket = 0
        value = sub << (bucket + self.unit)
        return value + (1 << (bucket + self.unit)) - 1

    def quantile(self, q):
        total = sum(self.counts)
        rank = max(1, math.ceil(q * total))
        running = 0
        for index, count in enumerate(self.counts):
            running += count
            if running >= rank:
                return self.highest_equivalent(index)
        raise ValueError("empty histogram")


def step(doc, name):
    return next(s for s in doc["load"]["steps"] if s["step"] == name)


def main():
    merged, *shards, name = sys.argv[1:]
    merged = json.load(open(merged))
    shards = [json.load(open(s)) for s in shards]
    whole = decode(step(merged, name)["latency"])
    parts = [decode(step(s, name)["latency"]) for s in shards]
    width = max(len(whole.counts), *(len(p.counts) for p in parts))
    summed = [sum(p.counts[i] if i < len(p.counts) else 0 for p in parts) for i in range(width)]
    mine = whole.counts + [0] * (width - len(whole.counts))
    assert mine == summed, "the merged histogram is not the shards' added bucket by bucket"
    every = Histogram(summed, whole.digits, whole.lowest)
    assert sum(summed) == step(merged, name)["requests"], (sum(summed), step(merged, name)["requests"])
    for q, key in [(0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")]:
        want = every.quantile(q) / 1000.0
        got = step(merged, name)[key]
        assert abs(got - want) < 1e-9, f"{key}: the merge says {got} ms, every request's histogram {want} ms"
    print(
        f"{name}: the merged histogram is the shards' added ({sum(summed)} requests); "
        f"p50 {every.quantile(0.5) / 1000:.3f} ms, p99 {every.quantile(0.99) / 1000:.3f} ms from every request"
    )


if __name__ == "__main__":
    main()
