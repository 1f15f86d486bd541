#!/usr/bin/env python3
"""Drives an interactive command through a pseudo-terminal, as a person at a keyboard would.

Usage: pty_drive.py SCRIPT.json -- COMMAND ARGS...
SCRIPT.json is a list of [expected_text, keys_to_send]; each step waits (10 s at most) until the screen
output so far contains expected_text, then types keys_to_send. Prints everything the program wrote and
exits with its exit code (or 124 when an expected text never appeared)."""
import json, os, pty, select, sys, time

def main():
    steps = json.load(open(sys.argv[1]))
    command = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ.pop("NO_COLOR", None)
        os.execvp(command[0], command)
    seen = b""

    def read(timeout):
        nonlocal seen
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            seen += chunk
        return True

    for expected, keys in steps:
        deadline = time.time() + 10
        while expected.encode() not in seen:
            if time.time() > deadline or not read(0.2):
                sys.stdout.write(seen.decode(errors="replace"))
                sys.stderr.write(f"\n[pty_drive] never saw: {expected!r}\n")
                os.kill(pid, 9)
                sys.exit(124)
        time.sleep(0.3)
        os.write(fd, keys.encode())
    deadline = time.time() + 90
    while time.time() < deadline and read(0.5):
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))

main()
