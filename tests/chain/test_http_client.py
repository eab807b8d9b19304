"""engine.chain.http against a real loopback server that answers with scripted raw HTTP bytes."""
from __future__ import annotations

import asyncio
import base64
import gzip
import json

import pytest

from engine.chain.http import (
    HttpConnectError,
    HttpProtocolError,
    HttpStatusError,
    JsonPostClient,
)


class ScriptedServer:
    """Reads one request at a time and writes the next scripted answer: bytes, a callable of the request
    that returns bytes, ("close", bytes) to close the connection after writing, or None to close it
    without answering."""

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = self.answers.pop(0) if self.answers else b""  # unscripted: no answer
                if callable(answer):
                    answer = answer(head, body)
                if answer is None:
                    break
                closing = isinstance(answer, tuple)
                writer.write(answer[1] if closing else answer)
                await writer.drain()
                if closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@pytest.fixture
async def serve():
    started: list[ScriptedServer] = []

    async def start(answers: list) -> tuple[ScriptedServer, str]:
        server = ScriptedServer(answers)
        started.append(server)
        return server, await server.start()

    yield start
    for server in started:
        await server.stop()


async def test_keep_alive_content_length_and_request_shape(serve):
    server, url = await serve([ok(b'{"a":1}'), ok(b'{"a":2}')])
    client = JsonPostClient(url + "/v1/path?key=x")
    assert json.loads(await client.post(b'{"q":1}', 5)) == {"a": 1}
    assert json.loads(await client.post(b'{"q":2}', 5)) == {"a": 2}
    assert server.connections == 1 and client.connections_opened == 1
    head, body = server.requests[0]
    assert head.startswith(b"POST /v1/path?key=x HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in head and body == b'{"q":1}'
    await client.close()


async def test_chunked_gzip_and_interim_answers(serve):
    payload = json.dumps({"result": "0x" + "ab" * 5000}).encode()
    packed = gzip.compress(payload)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(packed[i:i + 1000]), packed[i:i + 1000])
                      for i in range(0, len(packed), 1000))
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Encoding: gzip\r\n\r\n" + chunks + b"0\r\nX-Trailer: 1\r\n\r\n")
    server, url = await serve([chunked, ok(b"{}")])
    client = JsonPostClient(url)
    assert await client.post(b"{}", 5) == payload
    assert await client.post(b"{}", 5) == b"{}"  # the connection is still in step after the trailer
    assert server.connections == 1
    await client.close()


async def test_connection_close_and_close_delimited_bodies_are_not_reused(serve):
    server, url = await serve([ok(b"1", "Connection: close")])
    client = JsonPostClient(url)
    assert await client.post(b"{}", 5) == b"1"
    server.answers.append(("close", b"HTTP/1.0 200 OK\r\n\r\nuntil-close"))
    assert await client.post(b"{}", 5) == b"until-close"
    server.answers[:] = [ok(b"3")]
    assert await client.post(b"{}", 5) == b"3"
    assert server.connections == 3 and client.connections_opened == 3, "a connection closed by its answer was reused"
    await client.close()


async def test_a_connection_the_server_closed_is_not_reused(serve):
    server, url = await serve([("close", ok(b"1")), ok(b"2")])  # keep-alive by its headers, closed after
    client = JsonPostClient(url)
    assert await client.post(b"{}", 5) == b"1"
    await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
    assert await client.post(b"{}", 5) == b"2"
    assert client.connections_opened == 2
    # closed with no answer at all (e.g. the server's idle timeout raced the request): maybe received
    server.answers[:] = [None, ok(b"3")]
    with pytest.raises(HttpProtocolError, match="closed the connection"):
        await client.post(b"{}", 5)
    assert await client.post(b"{}", 5) == b"3"
    assert client.connections_opened == 3
    await client.close()


async def test_idle_connections_expire(serve):
    _server, url = await serve([ok(b"1"), ok(b"2")])
    client = JsonPostClient(url, keepalive_timeout=0.05)
    await client.post(b"{}", 5)
    await asyncio.sleep(0.1)
    await client.post(b"{}", 5)
    assert client.connections_opened == 2
    await client.close()


async def test_status_errors_and_malformed_answers(serve):
    _server, url = await serve([b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow",
                               b"SMTP ready\r\n\r\n"])
    client = JsonPostClient(url)
    with pytest.raises(HttpStatusError) as info:
        await client.post(b"{}", 5)
    assert info.value.status == 429 and info.value.reason == "Too Many Requests"
    with pytest.raises(HttpProtocolError, match="malformed answer"):
        await client.post(b"{}", 5)
    await client.close()


async def test_timeout_is_maybe_received_and_refused_is_not_sent(serve):
    server, url = await serve([lambda head, body: b""])  # reads the request, never answers it
    client = JsonPostClient(url)
    with pytest.raises(TimeoutError):
        await client.post(b"{}", 0.2)
    assert len(server.requests) == 1
    port = int(url.rsplit(":", 1)[1])
    await server.stop()
    refused = JsonPostClient(f"http://127.0.0.1:{port}")
    with pytest.raises(HttpConnectError, match="connect to 127.0.0.1:.* failed"):
        await refused.post(b"{}", 2)
    await client.close()


async def test_basic_auth_from_the_url(serve):
    server, url = await serve([ok(b"{}")])
    client = JsonPostClient(url.replace("http://", "http://user%40x:p%3Ass@"))
    await client.post(b"{}", 5)
    expected = base64.b64encode(b"user@x:p:ss")
    assert b"\r\nAuthorization: Basic " + expected + b"\r\n" in server.requests[0][0]
    await client.close()


async def test_concurrent_posts_are_bounded_by_the_pool(serve):
    _server, url = await serve([ok(b"%d" % i) for i in range(6)])
    client = JsonPostClient(url, max_connections=2)
    answers = await asyncio.gather(*(client.post(b"{}", 5) for _ in range(6)))
    assert sorted(answers) == [b"%d" % i for i in range(6)]
    assert client.connections_opened == 2
    await client.close()
