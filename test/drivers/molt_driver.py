"""A molt client we did not write in TypeScript: Debian's python3-websockets and python3-msgpack,
written only from docs/PROTOCOL.md and docs/FEED.md. It joins, pipelines posts, sends bad frames,
reads events and the timeline, tries a foreign Origin, and prints what it saw as one JSON object.

    python3 test/drivers/molt_driver.py ws://127.0.0.1:8080/ws HANDLE
"""
import asyncio
import json
import sys

import msgpack
import websockets


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False)


async def main(url, handle):
    seen = {}
    async with websockets.connect(url, max_size=2**20) as ws:
        hello = unpack(await ws.recv())
        seen["hello"] = {k: hello.get(k) for k in ("t", "protocol", "boot", "conn", "version", "seq", "commands", "view")}
        seen["hello_types"] = {k: type(v).__name__ for k, v in hello.items()}

        frames = []

        async def until_reply(want_id):
            while True:
                f = unpack(await ws.recv())
                frames.append(f)
                if f.get("t") == "reply" and f.get("id") == want_id:
                    return f

        await ws.send(pack({"id": 1, "type": "join", "handle": handle}))
        joined = await until_reply(1)
        seen["join"] = {"ok": joined["ok"], "user": joined.get("data", {}).get("user"), "has_token": isinstance(joined.get("data", {}).get("token"), str)}

        # Pipeline: 40 posts, a command with a bad type, a text frame, and a $ping, all at once.
        for i in range(40):
            await ws.send(pack({"id": 100 + i, "type": "post", "text": f"from python {i}"}))
        await ws.send(pack({"id": 200, "type": 7}))
        await ws.send("not msgpack")
        await ws.send(pack({"id": 201, "type": "$ping"}))
        await until_reply(201)
        answers = [f["id"] if f["t"] == "reply" else f["error"]["code"] for f in frames if f["t"] in ("reply", "error")]
        seen["order"] = answers[1:]  # after the join's reply
        posts_ok = [f for f in frames if f["t"] == "reply" and 100 <= f["id"] < 140 and f["ok"]]
        seen["posted"] = len(posts_ok)
        seen["at_type"] = type(posts_ok[0]["data"]["post"]["at"]).__name__ if posts_ok else None
        seen["bad_type"] = next((f["error"]["code"] for f in frames if f["t"] == "reply" and f["id"] == 200), None)
        events = [f for f in frames if f["t"] == "event"]
        seqs = [e["seq"] for e in events]
        seen["events"] = {"count": len(events), "consecutive": all(b == a + 1 for a, b in zip(seqs, seqs[1:])), "post_events": sum(1 for e in events if e["event"]["type"] == "post")}

        await ws.send(pack({"id": 300, "type": "$since", "seq": hello["seq"]}))
        since = await until_reply(300)
        seen["since"] = len(since["data"]["events"])

        await ws.send(pack({"id": 301, "type": "timeline", "limit": 50}))
        timeline = await until_reply(301)
        seen["timeline"] = sum(1 for p in timeline["data"]["posts"] if p["text"].startswith("from python "))

        # A join budget: join again until refused; the refusal says when to try again.
        refusal = None
        for i in range(10):
            await ws.send(pack({"id": 400 + i, "type": "join", "handle": f"{handle}{i}"}))
            r = await until_reply(400 + i)
            if not r["ok"]:
                refusal = r["error"]
                break
        seen["join_refusal"] = {"code": refusal and refusal["code"], "retryMs": refusal and refusal.get("retryMs")}

    # A page from a foreign site may not open the socket.
    try:
        async with websockets.connect(url, extra_headers={"Origin": "http://evil.example"}):
            seen["foreign_origin"] = 101
    except websockets.exceptions.InvalidStatusCode as err:
        seen["foreign_origin"] = err.status_code

    print(json.dumps(seen))


asyncio.run(main(sys.argv[1], sys.argv[2]))
