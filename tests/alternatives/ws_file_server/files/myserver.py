"""The seed's WebSocket echo server (seed 004), kept here as a file to download, not to run.

Run the working version from ws_client/server.py instead.
"""

import aiohttp
from aiohttp import web


async def hello(request):
    return web.Response(text="Hello, world")


async def websocket_handler(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            if msg.data == "close":
                await ws.close()
            else:
                await ws.send_str(msg.data + "/answer")
        elif msg.type == aiohttp.WSMsgType.ERROR:
            print(f"ws connection closed with exception {ws.exception()}")

    print("websocket connection closed")
    return ws


app = web.Application()
app.add_routes([web.get("/", hello), web.get("/ws", websocket_handler)])

if __name__ == "__main__":
    web.run_app(app)
