"""`ioc camera`: watch a video source, bridge a vendor's events, translate recorded wire files."""

from __future__ import annotations

import itertools
import json
import logging
import signal
import threading
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlunparse

import click
from pydantic import ValidationError

from ioc.cli import Ctx, pass_ctx

logger = logging.getLogger(__name__)


def _location_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option(
                "--id", "source_id", required=True, help="Camera (or device) id, the event source."
            ),
            click.option(
                "--province", help="2-digit province code (or give --ward / --lat --lon)."
            ),
            click.option("--ward", help="5-digit commune/ward code."),
            click.option("--lat", type=float, help="Latitude (WGS84); finds province and ward."),
            click.option("--lon", type=float, help="Longitude (WGS84)."),
            click.option("--name", help="Human name shown on the camera wall."),
        ]
    ):
        fn = opt(fn)
    return fn


_stdout_option = click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Print `topic payload` lines instead of publishing to the broker.",
)


def _site(
    source_id: str,
    province: str | None,
    ward: str | None,
    lat: float | None,
    lon: float | None,
    name: str | None,
    channels: dict[str, str] | None = None,
):
    from camera_adapters.site import SiteError, resolve_site

    try:
        return resolve_site(
            source_id, province=province, ward=ward, lat=lat, lon=lon, name=name, channels=channels
        )
    except SiteError as exc:
        raise click.BadParameter(str(exc)) from None


def _sink(ctx: Ctx, site: Any, to_stdout: bool, client_id: str):
    from camera_adapters.publisher import MqttPublisher, StreamSink, device_status

    if to_stdout:
        return StreamSink(prefix=ctx.settings.topic_prefix)
    will = device_status(site.source, "offline", name=site.name, lat=site.lat, lon=site.lon)
    try:
        return MqttPublisher(
            ctx.settings.mqtt_url,
            client_id,
            will=(will, site.province),
            prefix=ctx.settings.topic_prefix,
        )
    except (ValueError, ConnectionError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return stop


@click.group()
def camera() -> None:
    """Camera health, motion and snapshots (OpenCV) and vendor event bridges."""


# --- watch ----------------------------------------------------------------------------------


def _watch_config(path: str | None, overrides: dict[str, Any]):
    from camera_adapters.config import WatchConfig

    data: dict[str, Any] = {}
    if path:
        raw = Path(path).read_bytes()
        data = json.loads(raw) if path.endswith(".json") else tomllib.loads(raw.decode())
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.rpartition(".")
        target = data.setdefault(section, {}) if section else data
        target[key] = value
    try:
        return WatchConfig.model_validate(data)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None


@camera.command("watch")
@click.argument("source")
@_location_options
@_stdout_option
@click.option("--fps", type=float, help="Frames analysed per second [5].")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML or JSON file of thresholds (see camera_adapters/config.py).",
)
@click.option("--offline-after", type=float, help="Seconds without a frame before offline [10].")
@click.option(
    "--snapshot-interval",
    type=float,
    help="Seconds between camera.snapshot events [60]; 0 disables.",
)
@click.option(
    "--snapshot-dir", type=click.Path(file_okay=False), help="Snapshot root [DATA_DIR/snapshots]."
)
@click.option(
    "--snapshot-url", help="URL base under which the snapshot root is served (refs carry url)."
)
@click.option("--no-snapshots", is_flag=True, help="Write no snapshots.")
@click.option("--no-motion", is_flag=True, help="Publish no camera.motion.")
@click.option("--loop", is_flag=True, help="Loop a video file (demo).")
@click.option("--realtime", is_flag=True, help="Play a video file at its own speed (demo).")
@click.option("--start", help="For a file: ISO time of its first frame [now].")
@pass_ctx
def watch(
    ctx: Ctx,
    source: str,
    source_id: str,
    province: str | None,
    ward: str | None,
    lat: float | None,
    lon: float | None,
    name: str | None,
    to_stdout: bool,
    fps: float | None,
    config_path: str | None,
    offline_after: float | None,
    snapshot_interval: float | None,
    snapshot_dir: str | None,
    snapshot_url: str | None,
    no_snapshots: bool,
    no_motion: bool,
    loop: bool,
    realtime: bool,
    start: str | None,
) -> None:
    """Watch SOURCE (video file, rtsp:// or http:// URL, or device index) and publish events."""
    from camera_adapters.snapshots import SNAPSHOT_DIR, SnapshotStore
    from camera_adapters.source import open_source
    from camera_adapters.watcher import CameraWatcher

    site = _site(source_id, province, ward, lat, lon, name)
    config = _watch_config(
        config_path,
        {
            "fps": fps,
            "health.offline_after_s": offline_after,
            "snapshots.interval_s": snapshot_interval,
            "snapshots.enabled": False if no_snapshots else None,
            "motion.enabled": False if no_motion else None,
        },
    )
    try:
        src = open_source(source, fps=config.fps, loop=loop, realtime=realtime)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="SOURCE") from None
    start_ts = datetime.fromisoformat(start).astimezone(UTC) if start else None
    data_dir = Path(ctx.settings.data_dir)
    snaps = None
    if config.snapshots.enabled:
        s = config.snapshots
        snaps = SnapshotStore(
            Path(snapshot_dir) if snapshot_dir else data_dir / SNAPSHOT_DIR,
            url_base=snapshot_url,
            quality=s.quality,
            max_width=s.max_width,
            retention_days=s.retention_days,
        )
    sink = _sink(ctx, site, to_stdout, f"ioc-camera-{site.source}")
    watcher = CameraWatcher(site, sink, config, snapshots=snaps, state_dir=data_dir / "cameras")
    stop = _stop_on_signals()
    try:
        stats = watcher.run(src, stop, start=start_ts)
    finally:
        sink.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(stats.events.items())) or "no events"
    click.echo(f"{site.source}: {stats.frames} frames analysed; {counts}", err=True)


# --- vendors --------------------------------------------------------------------------------


def _channels(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"{item!r} is not CHANNEL=SOURCE_ID", param_hint="--channel")
        out[key.strip()] = value.strip()
    return out


def _translator(
    vendor_key: str,
    site: Any,
    snapshots: Any,
    idle_close: float,
    device_tz: str,
    prefix: str | None,
):
    from camera_adapters.vendors import vendor

    try:
        spec = vendor(vendor_key)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--vendor") from None
    kwargs: dict[str, Any] = {
        "snapshots": snapshots,
        "idle_close_s": idle_close,
        "device_tz": device_tz,
    }
    if spec.key == "frigate" and prefix:
        kwargs["prefix"] = prefix
    return spec, spec.translator(site, **kwargs)


def _vendor_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option(
                "--vendor",
                "vendor_key",
                required=True,
                help="hikvision, dahua, onvif or frigate (see `ioc camera vendors`).",
            ),
            click.option(
                "--channel",
                "channels",
                multiple=True,
                metavar="CHANNEL=SOURCE_ID",
                help="Map a recorder channel, ONVIF token or Frigate camera to a source id.",
            ),
            click.option(
                "--idle-close",
                type=float,
                default=10.0,
                show_default=True,
                help="Close a vendor condition after this many quiet seconds.",
            ),
            click.option(
                "--device-tz",
                default="Asia/Ho_Chi_Minh",
                show_default=True,
                help="Zone of device times that carry no offset.",
            ),
            click.option("--prefix", help="Frigate topic prefix [frigate]."),
        ]
    ):
        fn = opt(fn)
    return fn


@camera.command("bridge")
@_vendor_options
@click.option(
    "--url",
    required=True,
    help="Device URL (http://host, or the full event URL) or, for Frigate, mqtt://host:port.",
)
@click.option("--user", help="Device user (or in the URL).")
@click.option(
    "--password", envvar="IOC_CAMERA_PASSWORD", help="Device password [$IOC_CAMERA_PASSWORD]."
)
@click.option("--snapshot-dir", type=click.Path(file_okay=False), help="Where vendor pictures go.")
@_location_options
@_stdout_option
@pass_ctx
def bridge(
    ctx: Ctx,
    vendor_key: str,
    channels: tuple[str, ...],
    idle_close: float,
    device_tz: str,
    prefix: str | None,
    url: str,
    user: str | None,
    password: str | None,
    snapshot_dir: str | None,
    source_id: str,
    province: str | None,
    ward: str | None,
    lat: float | None,
    lon: float | None,
    name: str | None,
    to_stdout: bool,
) -> None:
    """Connect to a device (or Frigate's broker) and forward its events as canonical events."""
    from camera_adapters.snapshots import SNAPSHOT_DIR, SnapshotStore

    site = _site(source_id, province, ward, lat, lon, name, _channels(channels))
    parsed = urlparse(url)
    if parsed.username and parsed.scheme.startswith("http"):
        user = user or unquote(parsed.username)
        password = password or unquote(parsed.password or "")
        url = urlunparse(
            parsed._replace(netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else ""))
        )
    snaps = SnapshotStore(
        Path(snapshot_dir) if snapshot_dir else Path(ctx.settings.data_dir) / SNAPSHOT_DIR
    )
    spec, translator = _translator(vendor_key, site, snaps, idle_close, device_tz, prefix)
    sink = _sink(ctx, site, to_stdout, f"ioc-bridge-{spec.key}-{site.source}")
    stop = _stop_on_signals()
    try:
        stats = spec.bridge(url, translator, sink, user=user, password=password, stop=stop)
    finally:
        sink.close()
    click.echo(
        f"{spec.key} bridge: {stats.messages} messages, {stats.events} events, "
        f"{stats.connects} connects",
        err=True,
    )


@camera.command("translate")
@_vendor_options
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--snapshot-dir", type=click.Path(file_okay=False), help="Keep vendor pictures here.")
@_location_options
def translate(
    vendor_key: str,
    channels: tuple[str, ...],
    idle_close: float,
    device_tz: str,
    prefix: str | None,
    files: tuple[str, ...],
    snapshot_dir: str | None,
    source_id: str,
    province: str | None,
    ward: str | None,
    lat: float | None,
    lon: float | None,
    name: str | None,
) -> None:
    """Translate recorded wire files (multipart body, XML, Frigate JSON lines) and print events."""
    from camera_adapters.publisher import StreamSink
    from camera_adapters.snapshots import SnapshotStore
    from camera_adapters.vendors import translate_all

    site = _site(source_id, province, ward, lat, lon, name, _channels(channels))
    snaps = SnapshotStore(Path(snapshot_dir)) if snapshot_dir else None
    spec, translator = _translator(vendor_key, site, snaps, idle_close, device_tz, prefix)
    sink = StreamSink()
    # One stream across the files, so a condition opened in one can close in the next.
    messages = itertools.chain.from_iterable(spec.read_file(Path(p)) for p in files)
    for event in translate_all(translator, messages):
        sink.publish(event)
    for status, province_code in translator.drain_statuses():
        sink.status(status, province_code)
    ignored = ", ".join(f"{k} x{v}" for k, v in translator.stats.ignored.most_common())
    click.echo(
        f"{translator.stats.messages} messages, {translator.stats.events} events, "
        f"{translator.stats.heartbeats} heartbeats; ignored: {ignored or 'none'}; "
        f"invalid: {len(translator.stats.invalid)}",
        err=True,
    )


@camera.command("vendors")
def vendors() -> None:
    """List vendor keys and how their events map to canonical kinds."""
    from camera_adapters.vendors import vendor, vendor_keys

    for key in vendor_keys():
        spec = vendor(key)
        click.echo(f"{spec.key}: {spec.title}")
        width = max(len(a) for a, _ in spec.mapping)
        for wire, kind in spec.mapping:
            click.echo(f"  {wire:<{width}}  ->  {kind}")
