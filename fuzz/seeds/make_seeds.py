#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/TARGET/ (run from fuzz/).

Seeds are small valid and nearly-valid inputs of each format, so that the fuzzer starts from
the shapes real files have. seeds/recs.ttrecs is a real `topten export-snapshot` of a tiny
model (synth 20 users x 15 items, rank 2).
"""
import json, os, struct

def put(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# ingest: byte 0 = block size selector, byte 1 = options (layout % 5, 0x08 skip bad rows,
# (>> 4) % 4 duplicate policy); the rest is the file.
files = {
    "udata": "1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n",
    "dat": "1::10::4::978300760\n1::20::3::978302109\n2::10::5::978301968\n",
    "csv": "userId,movieId,rating,timestamp\n1,10,4.5,964982703\n1,20,3.0,964981247\n2,10,5,964982224\n",
    "csv-quoted": 'user,item,rating\n"a,b",1,5\n"x ""y""",2,1\n"multi\nline",3,2\n',
    "tsv-header": "user\titem\trating\ttimestamp\nu1\ti1\t1\t1700000000\nu2\ti2\t2\t1700000001\n",
    "bom": "\ufeff196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
    "no-rating": "user,item\nu1,i1\nu1,i2\nu2,i1\n",
    "bad-rows": "1\t10\t4\n1\tx\n\n2\t10\tnan\n3\t11\t1e20\n4\t12\t-2\n",
    "dups": "1,10,1\n1,10,2\n1,10,3\n",
    "titles": "item_id\ttitle\n1\tToy Story (1995)\n2\t\"Heat, the\"\n",
    "crlf": "user,item,rating\r\n1,2,3\r\n4,5,6\r\n",
}
for i, (name, text) in enumerate(files.items()):
    for j, (b0, b1) in enumerate([(3, 0x00), (17, 0x08 | (i % 4) << 4), (0, i % 5)]):
        put("ingest", f"{name}-{j}", bytes([b0, b1]) + text.encode())
put("ingest", "invalid-utf8", bytes([5, 0]) + b"u\xff1\ti1\t1\n")

# events: the POST /api/events body.
ok = {"events": [
    {"userId": "u1", "itemId": "i1", "type": "rating", "value": 4.5, "timestamp": 1700000000},
    {"eventId": "e-1", "userId": "u1", "itemId": "i2", "type": "click"},
    {"userId": "u2", "itemId": "i3", "type": "purchase", "value": 1},
    {"userId": "u2", "itemId": "i3", "type": "view"},
    {"userId": "u3", "itemId": "i4", "type": "like"},
    {"userId": "u3", "itemId": "i5", "type": "add_to_cart"},
]}
put("events", "ok", json.dumps(ok))
put("events", "one", '{"events":[{"userId":"7","itemId":"9","type":"view"}]}')
put("events", "unknown-field", '{"events":[{"userId":"7","itemId":"9","type":"view","valeu":1}]}')
put("events", "null", '{"events":[{"userId":"7","itemId":"9","type":"view","value":null}]}')
put("events", "huge-value", '{"events":[{"userId":"7","itemId":"9","type":"rating","value":3.5e38}]}')
put("events", "top-extra", '{"events":[],"x":1}')
put("events", "not-object", '[1,2,3]')
put("events", "escapes", '{"events":[{"userId":"\\u0000","itemId":"\\ud83d\\ude00","type":"view","timestamp":-1}]}')

# snapshots: a TTS1 model snapshot written as Snapshot::encode does, and the real TTRECS1 file.
params = {"feedback": "implicit", "factors": 2, "regularization": 50.0, "alpha": 3.0,
          "confidence": "log", "iterations": 3, "solver": "cg", "cg_steps": 3,
          "nonnegative": False, "seed": 42, "threads": 0}
def tts1(items, factors, header_extra=None, values=None):
    header = {"version": "v1", "params": params, "items": items, "titles": [None] * len(items),
              "factors": factors, "created_ms": 1, "item_counts": [3] * len(items),
              "events_after_ms": 2}
    header.update(header_extra or {})
    js = json.dumps(header, separators=(",", ":")).encode()
    vals = values if values is not None else [0.25 * (i + 1) for i in range(len(items) * factors)]
    return b"TTS1" + struct.pack("<I", len(js)) + js + b"".join(struct.pack("<f", v) for v in vals)
put("snapshots", "tts1", tts1(["i1", "i2", "i3"], 2))
put("snapshots", "tts1-explicit", tts1(["a", "b"], 1, {"params": dict(params, feedback="explicit", confidence="linear")}))
put("snapshots", "tts1-empty", tts1([], 4))
put("snapshots", "tts1-titles", tts1(["x"], 2, {"titles": ["X (1999)"], "item_counts": []}))
with open("seeds/recs.ttrecs", "rb") as f:
    put("snapshots", "ttrecs1", f.read())

# store_docs: user documents, version records, the active pointer, events, histories.
doc = {"id": "v1:u1", "userId": "u1", "items": [{"itemId": "i1", "score": 0.5, "title": "T"},
       {"itemId": "1", "score": 0.25}, {"itemId": "i3", "score": -1e-3}],
       "modelVersion": "v1", "createdAt": "2026-01-01T00:00:00.000Z"}
put("store_docs", "userrecs", json.dumps(doc))
put("store_docs", "version", json.dumps({"version": "v1", "status": "complete", "createdAt": "2026-01-01T00:00:00Z",
    "expectedUsers": 2, "users": 2, "itemsPerUser": 50, "model": {"factors": 2}, "quality": None}))
put("store_docs", "active", '{"version":"v1","activatedAt":"2026-01-01T00:00:00Z"}')
put("store_docs", "event", '{"eventId":"e","userId":"u","itemId":"i","type":"view","value":0.5,"timestamp":1,"receivedAtMs":2}')
put("store_docs", "items", '[{"itemId":"i1","score":1.0},{"itemId":"i2","score":0.5,"title":"x"}]')
put("store_docs", "history", struct.pack("<IfIf", 0, 1.0, 7, 2.5))

# catalogue: byte 0 % 3 = 0 a catalogue file, 1 a batch of live changes, 2 a filter.
cat_files = {
    "jsonl": '{"itemId":"1","title":"Toy Story","categories":["Animation","Comedy"],"available":true}\n'
             '{"itemId":"2","expiresAt":"2030-01-01T00:00:00Z","attributes":{"price":9.5,"brand":"acme","new":true}}\n',
    "csv": "item_id,title,categories,available,price\n1,Heat,Action|Crime,true,9.5\n2,\"Up, the\",,false,\n",
    "tsv": "item_id\ttitle\tcategories\texpires_at\n1\tA\tDrama\t2030-01-01T00:00:00Z\n",
    "bad": '{"itemId":" 1 "}\n{"itemId":"trending"}\n{"itemId":"x","categories":"Drama"}\n',
}
for name, text in cat_files.items():
    put("catalogue", "file-" + name, bytes([0]) + text.encode())
changes = [
    [{"itemId": "fuzz-item", "title": "New"}, {"itemId": "2", "available": False}],
    [{"itemId": "3", "categories": ["A", "a", " A ", "B"], "attributes": {"price": 3, "old": None}}],
    [{"itemId": "fuzz-item", "expiresAt": "2031-05-01T12:00:00+02:00"}, {"expiresAt": None}],
    [{"itemId": "4", "attributes": {"k" * 65: 1}}, {"itemId": "5", "title": "x" * 501}],
]
for i, batch in enumerate(changes):
    put("catalogue", f"changes-{i}", bytes([1]) + json.dumps(batch).encode())
for i, f in enumerate(["category = 'Drama' and price < 10", "not (brand in ('acme', 'b')) or new = true",
                       "price >= $min and category = $genre", "((((", "title ~ 'x'", "expiresAt > 0"]):
    put("catalogue", f"filter-{i}", bytes([2]) + f.encode())
