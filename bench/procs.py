"""The bots under test as separate processes, and what /proc says about them (Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

# The code under test is the one this process imports (normally the checkout the bench lives in).
CODE = Path(importlib.util.find_spec("bot").origin).parent.parent
BENCH = Path(__file__).parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


class BotProcess:
    """`python -m <module> ...` with its own environment, started in an empty folder (so no .env is
    read), its output in a log file. Only this process is ever signalled, by its own pid."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], folder: Path, first_on_path: list[Path] = ()
    ) -> None:
        self.name = name
        self.argv = [sys.executable, *argv]
        self.env = {**_base_env(), **env}
        if first_on_path:
            self.env["PYTHONPATH"] = os.pathsep.join([*map(str, first_on_path), self.env["PYTHONPATH"]])
        self.folder = folder
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        log.close()

    async def ready(self, polled: asyncio.Event, timeout: float = 60.0) -> None:
        """Wait until the bot asks the emulator for updates."""
        polled.clear()
        for _ in range(int(timeout * 10)):
            if polled.is_set():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} did not start polling within {timeout:.0f} s:\n{self.log_tail()}")

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (a graceful stop), then SIGKILL after `timeout`; the event loop keeps serving meanwhile."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        for _ in range(int(timeout * 10)):
            if self.proc.poll() is not None:
                return self.proc.returncode
            await asyncio.sleep(0.1)
        self.proc.kill()
        self.proc.wait(5)
        return self.proc.returncode

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)

    def memory_mb(self) -> tuple[float, float]:
        """(resident now, peak resident) in MB."""
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
        return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _die_with_parent() -> None:
    """In the child, before it runs: if the bench dies, the bot gets SIGTERM (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _base_env() -> dict[str, str]:
    """A clean environment: no HERSTEL_* or token from the caller's shell leaks into the bots."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # e.g. where pyinstrument is
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(CODE), str(BENCH), *extra]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def machine_cpu_seconds() -> float:
    """CPU time all processes on the machine have used (from /proc/stat; idle and iowait excluded)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def process_cpu_seconds(pids) -> float:
    """User + system CPU time of these processes so far (those that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS
