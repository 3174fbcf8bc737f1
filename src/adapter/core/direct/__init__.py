"""Direct frames: a broadcast's websocket frames written straight to each client.

``frames`` makes the frames once per broadcast; ``async_writer`` writes them on
asyncio servers (aiohttp, ASGI under uvicorn), ``thread_writer`` on threading-mode
servers; ``engineio_hook`` adopts the websocket clients; ``reasons`` says why a
server is not served.
"""
