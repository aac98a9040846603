"""A lean HTTP/1.1 keep-alive client for the load: one connection, GET only.

The load's 50 clients share the server's two cores. ``httpx.AsyncClient`` spent about 3.5 ms
of CPU per request here (measured with ``time.process_time`` around a 1,500-request load),
as much as a cached suspect-list page costs the server, so the load generator took a
quarter of the machine from the server it measured. This client writes the request line
and headers itself and reads the answer by ``Content-Length`` (or chunked transfer
coding): a few tens of microseconds per request. It is for the benchmark only; it follows
no redirects and speaks no TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

Params = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer.

    Attributes:
        status: Status code.
        body: The whole body, bytes.
    """

    status: int
    body: bytes

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300


class WireClient:
    """GET requests over one keep-alive connection to ``url`` (``http://host:port``),
    reconnecting when the server closes it.

    Args:
        url: Base URL, ``http://`` only.
        headers: Sent with every request (``Authorization``, say).
        timeout_s: Longest wait for one whole answer, seconds.
    """

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float = 120.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not an http:// URL: {url}")
        self._host, self._port = parts.hostname, parts.port or 80
        fixed = {"Host": f"{self._host}:{self._port}", **headers}
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: Params | None = None) -> Answer:
        """``GET path?params``; the whole answer."""
        target = f"{path}?{urlencode(params)}" if params else path
        request = f"GET {target} HTTP/1.1\r\n{self._headers}\r\n".encode()
        try:
            return await asyncio.wait_for(self._exchange(request), self._timeout_s)
        except BaseException:
            await self.close()  # half an answer may be left on the connection
            raise

    async def _exchange(self, request: bytes) -> Answer:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = await self._reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:  # no length: the body runs to the end of the connection
            body = await self._reader.read()
            await self.close()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, body)

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        chunks = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers are sent here
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
