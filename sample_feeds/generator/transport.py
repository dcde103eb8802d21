"""Buses on timetabled routes: positions every 10 s, stop arrivals/departures, occupancy, alarms.

Each bus is simulated second by second (acceleration, cruising, braking for stops,
traffic holds, slower towns at rush hour) against a timetable built with nominal
speeds, so delays come out of the simulation rather than being drawn.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

from sample_feeds.generator.rhythm import RIDERS, poisson
from sample_feeds.generator.timeline import Device, Pending, Timeline
from sample_feeds.generator.world import Route, Stop, World

SERVICE_START_S = 5 * 3600
LAST_DEPARTURE_S = 21 * 3600
LAYOVER_S = 10 * 60  # at least; long routes get recovery time in proportion
RECOVERY_SHARE = 0.18
MIN_TURNAROUND_S = 2 * 60
SCHED_DWELL_S = 30
EARLY_HOLD_S = 60  # drivers wait at a stop rather than leave more than this early
CRUISE_MS = {True: 7.8, False: 11.8}  # free-flow speeds, town / open road
HOLD_PER_S = {True: 1 / 200, False: 1 / 1500}  # chance per second of a red light or jam
ACCEL = 0.9
DECEL = 1.1
POSITION_EVERY_S = 10
PARKED_EVERY_S = 60


@dataclass
class BusTrack:
    """What one bus did, for incidents to hook onto."""

    device: Device
    plate: str
    route: Route
    capacity: int
    times: list[int] = field(default_factory=list)
    positions: list[Pending] = field(default_factory=list)
    arrivals: list[tuple[int, Stop, str, Pending]] = field(
        default_factory=list
    )  # (t, stop, trip, event)
    trips: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, trip id)

    def position_at(self, t: int) -> Pending | None:
        """The last position reported at or before t."""
        i = bisect_right(self.times, t) - 1
        return self.positions[i] if i >= 0 else None

    def trip_at(self, t: int) -> str | None:
        """The trip running at t, if any."""
        for start, end, trip in self.trips:
            if start <= t <= end:
                return trip
        return None

    def next_arrival(self, t: int) -> tuple[int, Stop, str, Pending] | None:
        """The first stop arrival after t."""
        for arrival in self.arrivals:
            if arrival[0] > t:
                return arrival
        return None


def _rush(urban: bool, hour: int) -> float:
    """Speed factor for town and open-road legs at this hour."""
    if hour in (6, 7, 16, 17):
        return 0.68 if urban else 0.9
    return 1.0


def _expected_leg_s(km: float, urban: bool, hour: int) -> float:
    """Mean driving time of a leg, as the operator measured it to write the timetable."""
    # The timetable is a little optimistic about the rush hour, which is where delays come from.
    cruise = CRUISE_MS[urban] * min(1.0, _rush(urban, hour) + 0.08) * 0.97
    drive = km * 1000.0 / cruise
    # Red lights and jams add ~45 s per hold; starting and braking cost about v/2a each.
    return drive * (1 + HOLD_PER_S[urban] * 45) + cruise / (2 * ACCEL) + cruise / (2 * DECEL)


def _schedule(route: Route, order: list[int], dep: int) -> list[int]:
    """Scheduled seconds after departure at each stop of `order` (the direction of travel)."""
    out = [0]
    for a, b in zip(order, order[1:], strict=False):
        t = dep + out[-1]
        km = abs(route.stop_km[b] - route.stop_km[a])
        out.append(out[-1] + round(_expected_leg_s(km, route.urban[min(a, b)], (t // 3600) % 24)))
        if b != order[-1]:
            out[-1] += SCHED_DWELL_S
    # Arrival times at stops exclude the dwell that follows them.
    return [v - (SCHED_DWELL_S if 0 < i < len(out) - 1 else 0) for i, v in enumerate(out)]


def _hhmm(t: int) -> str:
    return f"{t // 3600:02d}{t % 3600 // 60:02d}"


class _Bus:
    def __init__(
        self, rng: random.Random, tl: Timeline, track: BusTrack, phase: int, duration_s: int
    ) -> None:
        self.rng = rng
        self.tl = tl
        self.track = track
        self.phase = phase
        self.duration_s = duration_s
        self.occupancy = 0
        self.km = 0.0
        self.heading = 0.0
        self.t = 0
        self.trip = ""
        self.speed_ms = 0.0
        self.forward = True

    @property
    def route(self) -> Route:
        return self.track.route

    def _attrs(self) -> dict:
        return {"vehicle": self.track.plate, "route": self.route.id, "trip": self.trip}

    def emit_position(self) -> None:
        lat, lon, heading = self.route.path.at(self.km)
        if self.speed_ms > 0.5:
            self.heading = heading if self.forward else (heading + 180.0) % 360.0
        speed = (
            max(0.0, self.speed_ms * 3.6 + self.rng.uniform(-0.4, 0.4)) if self.speed_ms else 0.0
        )
        attrs = self._attrs() | {
            "speed_kmh": round(speed, 1),
            "heading": round(self.heading, 1) % 360.0,
            "occupancy": self.occupancy,
            "capacity": self.track.capacity,
        }
        if not self.trip:
            del attrs["trip"]
        p = self.tl.event(
            self.t, "transport.position", self.track.device.source, 0, lat, lon, attrs
        )
        self.track.times.append(self.t)
        self.track.positions.append(p)

    def wait_until(self, until: int, every: int) -> None:
        """Stand still (at a stop or terminal), reporting on the bus's phase."""
        self.speed_ms = 0.0
        while self.t < until:
            self.t += 1
            if self.t % every == self.phase % every:
                self.emit_position()

    def drive_to(self, target_km: float, urban: bool, trip_factor: float) -> None:
        """Drive along the route to target_km, second by second."""
        rng = self.rng
        step = 1.0 if self.forward else -1.0
        cruise = CRUISE_MS[urban] * trip_factor * _rush(urban, (self.t // 3600) % 24)
        target_speed = cruise
        hold = 0
        while True:
            self.t += 1
            remaining = abs(target_km - self.km) * 1000.0
            if hold > 0:
                hold -= 1
                self.speed_ms = 0.0
            else:
                if remaining > 150 and rng.random() < HOLD_PER_S[urban]:
                    hold = rng.randint(15, 75)
                if self.t % 30 == 0:
                    target_speed = cruise * rng.uniform(0.82, 1.12)
                brake = math.sqrt(2 * DECEL * max(remaining - 2.0, 0.0))
                want = min(target_speed, max(brake, 1.5))
                v = self.speed_ms
                self.speed_ms = min(want, v + ACCEL) if v < want else max(want, v - DECEL * 1.6)
                if remaining <= self.speed_ms:
                    self.km = target_km
                    self.speed_ms = 0.0
                    return
                self.km += step * self.speed_ms / 1000.0
            if self.t % POSITION_EVERY_S == self.phase:
                self.emit_position()

    def stop_event(self, kind: str, stop: Stop, scheduled: int) -> Pending:
        attrs = self._attrs() | {
            "stop": stop.id,
            "stop_name": stop.name,
            "scheduled": self.tl.at(scheduled),
            "delay_s": self.t - scheduled,
            "occupancy": self.occupancy,
        }
        return self.tl.event(self.t, kind, self.track.device.source, 0, stop.lat, stop.lon, attrs)

    def exchange(self, stop: Stop, terminal: bool) -> int:
        """Passengers alight and board; returns the dwell time."""
        rng = self.rng
        alight = (
            self.occupancy if terminal else sum(rng.random() < 0.2 for _ in range(self.occupancy))
        )
        self.occupancy -= alight
        hour = (self.t // 3600) % 24
        surge = 1.9 if (6 * 3600 + 1800 <= self.t % 86400 <= 7 * 3600 + 1800
                        or 16 * 3600 + 1800 <= self.t % 86400 <= 17 * 3600 + 1800) else 1.0  # fmt: skip
        board = poisson(rng, stop.weight * RIDERS[hour] * 3.2 * surge)
        board = min(board, int(self.track.capacity * 1.25) - self.occupancy)
        self.occupancy += board
        return min(120, 12 + round(2.5 * (alight + board)))

    def overcrowding(self, alarmed: set[str]) -> None:
        if self.occupancy <= self.track.capacity or self.trip in alarmed:
            return
        alarmed.add(self.trip)
        src = self.track.device.source
        pos = self.track.position_at(self.t)
        lat, lon = (pos.lat, pos.lon) if pos else (None, None)
        attrs = self._attrs() | {"occupancy": self.occupancy, "capacity": self.track.capacity}
        self.tl.event(self.t, "transport.overcrowding", src, 2, lat, lon, attrs)
        if self.rng.random() < 0.6:
            later = self.t + self.rng.randint(20, 90)
            attrs = self._attrs() | {"camera": "cam-2", "detection": "crowding",
                                     "confidence": round(self.rng.uniform(0.7, 0.95), 2)}  # fmt: skip
            self.tl.event(later, "transport.onboard_camera", src, 1, lat, lon, attrs)


def generate_transport(
    rng: random.Random, world: World, tl: Timeline, plates: list[str]
) -> list[BusTrack]:
    """Simulate every bus of every route; returns their tracks."""
    tracks: list[BusTrack] = []
    n = 0
    for route in world.routes:
        run = _schedule(route, list(range(len(route.stops))), 12 * 3600)[-1]
        n_buses = buses_for(route)
        headway = 2 * (run + _layover(run)) // n_buses
        capacity = 45 if route.length_km > 40 else 60
        for j in range(n_buses):
            n += 1
            plate = plates[n - 1]
            device = Device(f"bus-{world.province}-{n:02d}", "transport",
                            f"Xe buýt {plate}, tuyến {route.id} {route.name}",
                            route.stops[0].lat, route.stops[0].lon)  # fmt: skip
            track = BusTrack(device, plate, route, capacity)
            tracks.append(track)
            tl.status(0, device, "offline")
            bus = _Bus(rng, tl, track, phase=n % POSITION_EVERY_S, duration_s=tl.duration_s)
            first_dep = SERVICE_START_S + (j // 2) * headway + (j % 2) * (headway // 2)
            _run_bus(rng, bus, route, first_dep, forward=j % 2 == 0)
    return tracks


def _layover(run_s: int) -> int:
    """Scheduled time at the terminal, which absorbs the previous trip's delay."""
    return max(LAYOVER_S, round(run_s * RECOVERY_SHARE / 60) * 60)


def buses_for(route: Route) -> int:
    """Buses serving a route: four on the long ones."""
    return 4 if route.length_km > 40 else 3


def _run_bus(rng: random.Random, bus: _Bus, route: Route, first_dep: int, forward: bool) -> None:
    track, tl = bus.track, bus.tl
    bus.forward = forward
    bus.km = route.stop_km[0] if forward else route.stop_km[-1]
    bus.t = first_dep - 15 * 60
    tl.status(bus.t, track.device, "online")
    alarmed: set[str] = set()
    sched_dep = first_dep
    while sched_dep <= LAST_DEPARTURE_S:
        order = list(range(len(route.stops)))
        if not forward:
            order.reverse()
        offsets = _schedule(route, order, sched_dep)
        bus.forward = forward
        bus.trip = f"{route.id}-{'A' if forward else 'B'}-{_hhmm(sched_dep)}"
        late_start = rng.randint(120, 420) if rng.random() < 0.06 else rng.randint(0, 50)
        bus.wait_until(max(bus.t, sched_dep + late_start - 1), PARKED_EVERY_S)
        trip_start = bus.t
        trip_factor = rng.gauss(1.0, 0.04)
        first = route.stops[order[0]]
        bus.exchange(first, terminal=False)
        bus.stop_event("transport.stop_departure", first, sched_dep)
        for pos, idx in enumerate(order[1:], start=1):
            stop = route.stops[idx]
            bus.drive_to(route.stop_km[idx], route.urban[min(idx, order[pos - 1])], trip_factor)
            scheduled = sched_dep + offsets[pos]
            arrival = bus.stop_event("transport.stop_arrival", stop, scheduled)
            track.arrivals.append((bus.t, stop, bus.trip, arrival))
            if pos == len(order) - 1:
                bus.occupancy = 0
                break
            ready = bus.t + bus.exchange(stop, terminal=False)
            leave = scheduled + SCHED_DWELL_S
            if ready < leave - EARLY_HOLD_S:
                ready = leave - EARLY_HOLD_S + rng.randint(0, 40)
            bus.wait_until(ready, POSITION_EVERY_S)
            bus.stop_event("transport.stop_departure", stop, leave)
            bus.overcrowding(alarmed)
        track.trips.append((trip_start, bus.t, bus.trip))
        _onboard_noise(rng, bus, trip_start, bus.t)
        sched_dep = sched_dep + offsets[-1] + _layover(offsets[-1])
        bus.trip = ""
        bus.wait_until(bus.t + MIN_TURNAROUND_S, PARKED_EVERY_S)
        forward = not forward
    bus.wait_until(bus.t + 5 * 60, PARKED_EVERY_S)
    tl.status(bus.t, track.device, "offline")


# Per bus-hour rates of on-board detections that are not part of an incident.
ONBOARD_NOISE = (
    ("smoke", 0.015, 1),
    ("fall", 0.006, 2),
    ("tamper", 0.004, 2),
    ("harassment", 0.003, 3),
)


def _onboard_noise(rng: random.Random, bus: _Bus, start: int, end: int) -> None:
    hours = (end - start) / 3600
    for detection, rate, severity in ONBOARD_NOISE:
        for _ in range(poisson(rng, rate * hours)):
            t = rng.randint(start, end)
            pos = bus.track.position_at(t)
            trip = bus.track.trip_at(t) or ""
            attrs = {"vehicle": bus.track.plate, "route": bus.route.id, "trip": trip,
                     "camera": rng.choice(("cam-1", "cam-2")), "detection": detection,
                     "confidence": round(rng.uniform(0.6, 0.93), 2)}  # fmt: skip
            bus.tl.event(t, "transport.onboard_camera", bus.track.device.source, severity,
                         pos.lat if pos else None, pos.lon if pos else None, attrs)  # fmt: skip
