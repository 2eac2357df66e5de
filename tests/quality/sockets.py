"""WebSocket helpers for the quality tests (the app behind a real server thread)."""
from __future__ import annotations

import websocket


def connect(ws_base: str, path: str, token: str, timeout_s: float = 15):
    return websocket.create_connection(f"{ws_base}{path}?token={token}", timeout=timeout_s)


def close_code(ws) -> int:
    """The code of the close frame the server sends next (data frames before it are skipped)."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")
