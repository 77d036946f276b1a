"""Prints testdata/vectors/{murmur3,key-to-shard}.json as the lines vectors_test.c reads."""
import json
import sys

root = sys.argv[1]
for v in json.load(open(f"{root}/murmur3.json"))["vectors"]:
    print("m", v["input_hex"] or "-", v["seed"], v["hash"])
for v in json.load(open(f"{root}/key-to-shard.json"))["vectors"]:
    print("k", v["key"].encode("utf-8", "surrogatepass").hex() or "-", v["shards"], v["hash"], v["shard"])
