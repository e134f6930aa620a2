"""The table: every figure side by side, and the targets with a pass/short mark."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.e2e import E2E_SEND_RATE, Plan, Session
from bench.load import RunResult, percentile

NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass
class Report:
    mode: str
    plan: Plan
    backends: list[str]
    context: str = ""
    engine: object = None
    sessions: list[Session] = field(default_factory=list)
    fill_seconds: dict = field(default_factory=dict)
    bursts: list = field(default_factory=list)
    claims: list = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    noisy: object = None  # bench.noisy.Figures

    # Lookup -------------------------------------------------------------------------------

    @property
    def echo(self) -> Session | None:
        return next((s for s in self.sessions if s.bot == "echo"), None)

    def herstel(self, backend: str, size: str) -> Session | None:
        return next((s for s in self.sessions if s.bot == "herstel" and s.backend == backend and s.size == size), None)

    @property
    def sizes(self) -> list[str]:
        return [size for size, _ in self.plan.sizes]

    # Rendering ------------------------------------------------------------------------------

    def render(self) -> str:
        lines: list[str] = []
        lines += [
            f"Herstel benchmark (#9), {self.mode} run: {self.context}",
            "Bots are separate processes polling one local Bot API emulator (127.0.0.1) that the load runs in.",
            f"End-to-end runs: emulator flood limits OFF (raised to 1e6/s) and HERSTEL_SEND_RATE={E2E_SEND_RATE}, so neither "
            "Telegram's caps nor",
            "Herstel's own pacer is what is measured; the scheduled burst runs with Telegram's limits and the default pace.",
            "Latency: update queued in the emulator -> the last Bot API call it caused reached the emulator "
            "(first reply: the first call).",
            "",
        ]
        busiest = max((_other(r) for x in self.sessions for r in x.runs.values()), default=0.0)
        if busiest > 25:
            lines += [
                f"WARNING: other processes on this machine used up to {busiest:.0f}% of a core during a run; figures from",
                "such runs understate Herstel (see 'other processes' CPU use' / 'other CPU %').",
                "",
            ]
        if self.sessions:  # parts left out (--skip, --only) leave no empty tables behind
            lines += self._e2e()
            lines += self._scale()
        lines += self._burst()
        lines += self._claims()
        lines += self._engine()
        if self.noisy is not None:
            from bench import noisy

            lines += noisy.render(self.noisy)
        lines += self._sql()
        if self.sessions:
            lines += self._targets()
            lines += self._sanity()
        for error in self.errors:
            lines.append(f"FAILED: {error}")
        lines.append(f"Whole run: {self.seconds / 60:.1f} min.")
        return "\n".join(lines)

    def _e2e(self) -> list[str]:
        first = self.sizes[0]
        cols = [(NAMES[b], self.herstel(b, first)) for b in self.backends]
        echo = self.echo
        head = ["figure (empty database)"] + [c for c, _ in cols] + (["echo bot"] if echo else [])
        if echo:
            head += [f"{NAMES[b].replace('PostgreSQL', 'PG')}/echo" for b in self.backends]
        rows = []

        def add(label: str, get, fmt="{:.1f}", ratio=True):
            values = [get(s) if s else None for _, s in cols]
            row = [label] + [_fmt(v, fmt) for v in values]
            if echo:
                e = get(echo)
                row.append(_fmt(e, fmt))
                row += [_fmt(v / e, "{:.2f}x") if ratio and _num(v) and _num(e) and e else "" for v in values]
            rows.append(row)

        p = self.plan
        rows.append(
            [
                f"{p.light_rate:.0f} updates/s offered ({p.light_seconds:.0f} s, {p.light_couples} couples): "
                "one update at a time, no queue"
            ]
        )
        add("  latency p50 ms", lambda s: percentile(_run(s, "light").all_ms, 50))
        add("  latency p95 ms", lambda s: percentile(_run(s, "light").all_ms, 95))
        add("  bot CPU ms / update", lambda s: _cpu_ms(_run(s, "light")), "{:.2f}")
        rows.append([f"{p.rate:.0f} updates/s offered ({p.rate_seconds:.0f} s, {p.rate_couples} couples)"])
        add("  answered /s", lambda s: _run(s, "rate").per_second)
        add("  latency p50 ms", lambda s: percentile(_run(s, "rate").all_ms, 50))
        add("  latency p95 ms", lambda s: percentile(_run(s, "rate").all_ms, 95))
        add("  latency p99 ms", lambda s: percentile(_run(s, "rate").all_ms, 99))
        add("  first reply p50 ms", lambda s: percentile(_run(s, "rate").first_ms, 50))
        add("  first reply p99 ms", lambda s: percentile(_run(s, "rate").first_ms, 99))
        add("  bot CPU ms / update", lambda s: _cpu_ms(_run(s, "rate")), "{:.2f}")
        add("  API calls / update", lambda s: _calls(_run(s, "rate")), "{:.2f}")
        add("  PostgreSQL server CPU ms / update", lambda s: _pg_ms(_run(s, "rate")), "{:.2f}", ratio=False)
        add("  other processes' CPU use %", lambda s: _other(_run(s, "rate")), "{:.0f}", ratio=False)
        rows.append([f"saturation ({p.sat_couples} couples, closed loop, {p.sat_seconds:.0f} s)"])
        add("  answered /s", lambda s: _run(s, "saturation").per_second)
        add("  latency p50 ms", lambda s: percentile(_run(s, "saturation").all_ms, 50), "{:.0f}")
        add("  latency p99 ms", lambda s: percentile(_run(s, "saturation").all_ms, 99), "{:.0f}")
        add("  bot CPU ms / update", lambda s: _cpu_ms(_run(s, "saturation")), "{:.2f}")
        add("  bot CPU use %", lambda s: _busy(_run(s, "saturation")), "{:.0f}")
        add("  PostgreSQL server CPU ms / update", lambda s: _pg_ms(_run(s, "saturation")), "{:.2f}", ratio=False)
        add("  emulator+load CPU use %", lambda s: _driver(_run(s, "saturation")), "{:.0f}", ratio=False)
        add("  other processes' CPU use %", lambda s: _other(_run(s, "saturation")), "{:.0f}", ratio=False)
        add("peak resident MB", lambda s: s.peak_rss_mb, "{:.0f}")
        return [
            "1. End to end, Herstel beside a bare PTB echo bot (same updates, same emulator)",
            *_table(head, rows),
            "",
        ]

    def _scale(self) -> list[str]:
        p = self.plan
        head = [
            "backend",
            "database",
            "people",
            "couples",
            "entries",
            "schedules",
            "light p50",
            "light p95",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "sat /s",
            "CPU ms/upd",
            "peak MB",
            "RSS MB",
            "seq-scan rows/upd",
            "other CPU %",
            "fill s",
        ]
        rows = []
        for backend in self.backends:
            for size in self.sizes:
                s = self.herstel(backend, size)
                if not s:
                    continue
                light, rate, sat = _run(s, "light"), _run(s, "rate"), _run(s, "saturation")
                counts = s.db_counts
                scanned = sum(
                    rows_ for name, (_, rows_) in s.seq_scans.items() if name not in ("meta", "alembic_version")
                )
                handled = sum(r.answered for r in s.runs.values()) + p.warm_updates
                rows.append(
                    [
                        NAMES[backend],
                        size,
                        _fmt(counts.get("people"), "{:,}"),
                        _fmt(counts.get("couples"), "{:,}"),
                        _fmt(counts.get("entries"), "{:,}"),
                        _fmt(counts.get("schedules"), "{:,}"),
                        _fmt(percentile(light.all_ms, 50)),
                        _fmt(percentile(light.all_ms, 95)),
                        _fmt(percentile(rate.all_ms, 50)),
                        _fmt(percentile(rate.all_ms, 95)),
                        _fmt(percentile(rate.all_ms, 99)),
                        _fmt(sat.per_second),
                        _fmt(_cpu_ms(sat), "{:.2f}"),
                        _fmt(s.peak_rss_mb, "{:.0f}"),
                        _fmt(s.rss_mb, "{:.0f}"),
                        _fmt(scanned / handled, "{:.1f}") if backend == "postgresql" and handled else "n/a",
                        _fmt(max(_other(light), _other(rate), _other(sat)), "{:.0f}"),
                        _fmt(self.fill_seconds.get((backend, size)), "{:.0f}"),
                    ]
                )
        for backend in self.backends:
            s = self.herstel(backend, self.sizes[-1])
            if s and s.seq_scans:
                top = sorted(
                    ((rows_, scans, name) for name, (scans, rows_) in s.seq_scans.items() if rows_), reverse=True
                )[:4]
                if top:
                    rows.append(
                        [
                            f"   {NAMES[backend]} {self.sizes[-1]}: sequential scans during the session: "
                            + "; ".join(f"{name} {scans:,} scans / {rows_:,} rows" for rows_, scans, name in top)
                        ]
                    )
        note = (
            f"light: latency ms at {p.light_rate:.0f}/s offered; p50/p95/p99: at {p.rate:.0f}/s; sat = saturation (closed loop); CPU at saturation; "
            "seq-scan rows/upd: rows PostgreSQL read by sequential scans per update handled (pg_stat_user_tables)"
        )
        return [
            "2. At scale: the same runs with the database grown (each size a fresh bot process)",
            *_table(head, rows),
            f"   ({note})",
            "",
        ]

    def _burst(self) -> list[str]:
        if not self.bursts:
            return []
        b0 = self.bursts[0]
        via = (
            "the scheduler (schedules rows due now, claimed by the bot's repeating job)"
            if b0.via == "scheduler"
            else "the outbox (calls queued at once; no scheduler yet)"
        )
        head = [
            "backend",
            "due at once",
            "delivered",
            "first after s",
            "last after s",
            "rate /s",
            "configured /s",
            "rate vs configured",
            "429s",
            "other errors",
        ]
        rows = []
        for b in self.bursts:
            last = _fmt(b.to_last_s) if b.complete else f">{b.to_last_s:.0f} (cut)"
            rows.append(
                [
                    NAMES[b.backend],
                    f"{b.rows:,}",
                    f"{b.delivered:,}",
                    _fmt(b.to_first_s),
                    last,
                    _fmt(b.rate),
                    _fmt(b.configured, "{:.0f}"),
                    _fmt(b.rate / b.configured - 1, "{:+.1%}") if b.rate else "-",
                    str(b.too_many),
                    str(b.other_errors),
                ]
            )
        extra = ""
        if not all(b.complete for b in self.bursts):
            projected = [
                f"{NAMES[b.backend]} ~{b.rows / b.rate:.0f} s" for b in self.bursts if not b.complete and b.rate
            ]
            extra = (
                f"   (not all delivered within {self.plan.burst_deadline:.0f} s; at the rate reached the last would "
                f"arrive after: {', '.join(projected)})"
            )
        from bench.burst import TICK_SECONDS
        from bot.app import BATCH

        looks = (
            f"; the scheduler looks every {TICK_SECONDS:g} s and works through all that is due, {BATCH} rows at a time"
            if b0.via == "scheduler" and TICK_SECONDS
            else ""
        )
        return [
            f"3. Scheduled burst: {b0.rows:,} check-ins due in the same minute, via {via};",
            "   emulator enforces Telegram's limits (30/s overall, 20 then 1/s a chat); Herstel at its default pace"
            + looks,
            *_table(head, rows),
            *([extra] if extra else []),
            "",
        ]

    def _claims(self) -> list[str]:
        if not self.claims:
            return []
        cases = list(dict.fromkeys(c.case for c in self.claims))
        head = ["claim query (15 times; median / worst ms)"] + [NAMES[b] for b in self.backends] + ["rows found"]
        rows = []
        for case in cases:
            row = [case]
            found = ""
            for b in self.backends:
                c = next((c for c in self.claims if c.case == case and c.backend == b), None)
                row.append(f"{c.median_ms:.1f} / {c.worst_ms:.1f}" if c else "-")
                found = str(c.found) if c else found
            rows.append(row + [found])
        return [
            "4. Claiming due rows from 200k-row tables (the scheduler's and the courier's queries, in one transaction)",
            *_table(head, rows),
            "",
        ]

    def _engine(self) -> list[str]:
        e = self.engine
        if not e:
            return []
        head = ["pure engine, one core, no I/O", "steps /s", "µs / step"]
        rows = [
            ["dialogues.engine.step", f"{e.step_per_s:,.0f}", f"{1e6 / e.step_per_s:.0f}"],
            ["step + render to Bot API calls", f"{e.step_render_per_s:,.0f}", f"{1e6 / e.step_render_per_s:.0f}"],
        ]
        return [
            f"5. The pure engine ({e.steps} recorded steps: pairing, naming or impact with mirroring, free messages, "
            "en and nl)",
            *_table(head, rows),
            "",
        ]

    def _sql(self) -> list[str]:
        counted = [s for s in self.sessions if s.sql_counts and s.handled]
        if not counted:
            return []
        kinds = sorted(
            {k for s in counted for k in s.sql_counts},
            key=lambda k: -max(s.sql_counts.get(k, 0) / s.handled for s in counted),
        )
        head = ["SQL per update (whole session)"] + [f"{NAMES[s.backend]} {s.size}" for s in counted]
        rows = [
            ["all statements"]
            + [f"{sum(v for k, v in s.sql_counts.items() if k != 'COMMIT') / s.handled:.1f}" for s in counted]
        ]
        rows += [
            [kind] + [f"{s.sql_counts.get(kind, 0) / s.handled:.2f}" for s in counted]
            for kind in kinds
            if max(s.sql_counts.get(kind, 0) / s.handled for s in counted) >= 0.05
        ]
        return ["7. SQL statements Herstel sent per update answered (--count-sql)", *_table(head, rows), ""]

    def _targets(self) -> list[str]:
        echo = self.echo
        largest, smallest = self.sizes[-1], self.sizes[0]
        grown_from = "1k" if "1k" in self.sizes else smallest
        head = ["target"] + [NAMES[b] for b in self.backends]
        rows = []

        def row(label, check):
            rows.append([label] + [check(b) for b in self.backends])

        def each(b, get):
            return [get(s) for s in (self.herstel(b, size) for size in self.sizes) if s]

        def ratio(b):
            if not echo:
                return "no echo run"
            worst = min(each(b, lambda s: _run(s, "saturation").per_second), default=float("nan"))
            value = worst / _run(echo, "saturation").per_second
            return _mark(value >= 0.7, f"{value:.2f}x")

        def absolute(b):
            worst = min(each(b, lambda s: _run(s, "saturation").per_second), default=float("nan"))
            return _mark(worst >= 300, f"{worst:.0f}/s")

        def p99(b):
            worst = max(each(b, lambda s: percentile(_run(s, "rate").all_ms, 99)), default=float("nan"))
            return _mark(worst <= 50, f"{worst:.0f} ms")

        def memory(b):
            worst = max(each(b, lambda s: s.peak_rss_mb), default=float("nan"))
            return _mark(worst <= 120, f"{worst:.0f} MB")

        def growth(b):
            a, z = self.herstel(b, grown_from), self.herstel(b, largest)
            if not a or not z or a is z:
                return "-"
            delta = z.peak_rss_mb - a.peak_rss_mb
            return _mark(abs(delta) <= 20, f"{delta:+.0f} MB")

        def flat(b):
            a, z = self.herstel(b, smallest), self.herstel(b, largest)
            if not a or not z or a is z:
                return "-"

            def change(run, q):
                return percentile(_run(z, run).all_ms, q) / percentile(_run(a, run).all_ms, q) - 1

            light = change("light", 50)
            return _mark(
                abs(light) <= 0.10,
                f"{light:+.0%} (p95 {change('light', 95):+.0%}; "
                f"at {self.plan.rate:.0f}/s: p50 {change('rate', 50):+.0%})",
            )

        def burst(b):
            r = next((x for x in self.bursts if x.backend == b), None)
            if not r:
                return "-"
            ok = r.complete and r.rate and abs(r.rate / r.configured - 1) <= 0.05 and r.too_many == 0
            detail = f"{r.rate / r.configured - 1:+.0%}, {r.too_many} 429s" if r.rate else "nothing delivered"
            if not r.complete:
                detail += f", {r.delivered:,}/{r.rows:,} in {self.plan.burst_deadline:.0f} s"
            return _mark(bool(ok), detail)

        row("throughput >= 0.7x the echo bot's (saturation, worst size)", ratio)
        row(">= 300 updates/s on one process (saturation, worst size)", absolute)
        row(f"p99 <= 50 ms at {self.plan.rate:.0f} updates/s offered (worst size)", p99)
        row("peak resident memory <= 120 MB (worst size)", memory)
        row(f"peak resident memory within +-20 MB, {grown_from} -> {largest} couples", growth)
        row(f"latency within +-10 %, {smallest} -> {largest} couples (p50 at {self.plan.light_rate:.0f}/s)", flat)
        if self.bursts:
            row("burst within 5 % of the configured rate, zero 429s", burst)
        return ["6. Targets", *_table(head, rows), ""]

    def _sanity(self) -> list[str]:
        runs = [r for s in self.sessions for r in s.runs.values()]
        stuck = sum(r.stuck for r in runs)
        unexpected = sum(r.unexpected for r in runs)
        mismatched = sum(r.mismatched for r in runs)
        busiest = max((s.max_chat_posts for s in self.sessions), default=0)
        late = max((r.late_ms_max for r in runs if r.offered), default=0.0)
        return [
            f"Checks: {stuck} updates unanswered (stuck > 15 s), {unexpected} calls no update accounts for, "
            f"{mismatched} buttons not where the shadow engine put them;",
            f"        busiest chat got {busiest} messages in a session (Herstel's own per-chat pace allows a burst of 20); "
            f"open-loop sends left at most {late:.0f} ms late.",
        ]


def _run(s: Session, label: str) -> RunResult:
    return s.runs.get(label) or RunResult(label, None, 0)


def _cpu_ms(r: RunResult) -> float:
    return r.bot_cpu / r.answered * 1000 if r.answered else float("nan")


def _calls(r: RunResult) -> float:
    return r.calls / r.answered if r.answered else float("nan")


def _busy(r: RunResult) -> float:
    return r.bot_cpu / r.seconds * 100 if r.seconds else float("nan")


def _driver(r: RunResult) -> float:
    return r.driver_cpu / r.seconds * 100 if r.seconds else float("nan")


def _pg_ms(r: RunResult) -> float:
    return r.postgres_cpu / r.answered * 1000 if r.answered and r.postgres_cpu else float("nan")


def _other(r: RunResult) -> float:
    return r.other_cpu / r.wall * 100 if r.wall else float("nan")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


def _fmt(v, fmt="{:.1f}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


def _mark(ok: bool, detail: str) -> str:
    return f"{'pass ' if ok else 'SHORT'} {detail}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    width = len(head)
    widths = [max(len(str(r[i])) for r in [head, *[r for r in rows if len(r) == width]]) for i in range(width)]
    out = []

    def line(cells):
        return "  " + "  ".join(
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(cells)
        )

    out.append(line(head))
    out.append("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        out.append(line(r) if len(r) == width else "  " + r[0])
    return out
