#!/usr/bin/env python3
"""Plays a retiring HAProxy after a seamless reload: takes the runtime socket's listener from the serving HAProxy
the way `haproxy -x` does (the _getsocks command, file descriptors passed with SCM_RIGHTS) and accepts on it beside
the serving process, answering every command line as a process that does not know the reload's backends would.
Prints "ready" once it accepts; runs until killed."""
import select
import socket
import struct
import sys

runtime = socket.socket(socket.AF_UNIX)
runtime.connect(sys.argv[1])
runtime.sendall(b"_getsocks\n")
count = struct.unpack("i", runtime.recv(4, socket.MSG_WAITALL))[0]
fds = []
while len(fds) < count:
    _, got, _, _ = socket.recv_fds(runtime, 65536, 253)
    if not got:
        break
    fds += got
listener = next(s for s in (socket.socket(fileno=fd) for fd in fds) if s.family == socket.AF_UNIX)
print("ready", flush=True)
# The listener is non-blocking (its file description is HAProxy's, flags included): wait, then race HAProxy to accept.
while True:
    select.select([listener], [], [])
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        continue
    connection.setblocking(True)
    with connection:
        line = connection.recv(65536).decode(errors="replace")
        answers = []
        for command in line.strip().split(";"):
            if command.startswith("show info"):
                answers.append("Name: HAProxy\nPid: 1\n\n")
            else:
                answers.append("No such backend.\n\n")
        connection.sendall("".join(answers).encode())
