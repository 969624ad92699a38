"""A TCP proxy on loopback that records SLURM traffic, for making golden captures.

    python -m harness.capture_proxy LISTEN_PORT UPSTREAM_PORT OUTDIR LABEL [--idle SECONDS]

Each accepted connection N is forwarded to 127.0.0.1:UPSTREAM_PORT; when it ends, what the connecting side
sent is written to OUTDIR/LABEL-connN-c2s.bin and the answer to OUTDIR/LABEL-connN-s2c.bin, byte for byte
(SLURM frames: u32 length + frame, one after the other). One line per connection goes to stdout. The proxy
exits after --idle seconds without a new connection (default: never).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from pathlib import Path


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray) -> None:
    try:
        while data := await reader.read(65536):
            record += data
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError:
                writer.close()


class CaptureProxy:
    def __init__(self, upstream_port: int, outdir: Path, label: str) -> None:
        self.upstream_port = upstream_port
        self.outdir = outdir
        self.label = label
        self._ids = itertools.count(1)
        self.last_activity = asyncio.get_running_loop().time()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        self.last_activity = asyncio.get_running_loop().time()
        c2s, s2c = bytearray(), bytearray()
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError as e:
            print(f"conn{conn}: upstream {self.upstream_port}: {e}", flush=True)
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, c2s), _pump(server_r, client_w, s2c))
        for w in (client_w, server_w):
            w.close()
        base = self.outdir / f"{self.label}-conn{conn}"
        base.with_name(base.name + "-c2s.bin").write_bytes(bytes(c2s))
        base.with_name(base.name + "-s2c.bin").write_bytes(bytes(s2c))
        self.last_activity = asyncio.get_running_loop().time()
        print(f"conn{conn}: c2s {len(c2s)} bytes, s2c {len(s2c)} bytes", flush=True)


async def serve(listen_port: int, upstream_port: int, outdir: Path, label: str, idle: float) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    proxy = CaptureProxy(upstream_port, outdir, label)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", listen_port)
    print(f"listening on 127.0.0.1:{listen_port} -> 127.0.0.1:{upstream_port}", flush=True)
    async with server:
        if idle <= 0:
            await server.serve_forever()
        loop = asyncio.get_running_loop()
        while loop.time() - proxy.last_activity < idle:
            await asyncio.sleep(min(1.0, idle))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("listen_port", type=int)
    p.add_argument("upstream_port", type=int)
    p.add_argument("outdir", type=Path)
    p.add_argument("label")
    p.add_argument("--idle", type=float, default=0.0, help="exit after this many seconds without traffic")
    a = p.parse_args(argv)
    asyncio.run(serve(a.listen_port, a.upstream_port, a.outdir, a.label, a.idle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
