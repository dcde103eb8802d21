"""Camera adapters: OpenCV health/motion checks and snapshots (`ioc camera watch`), and vendor
event translators (Hikvision ISAPI, Dahua, ONVIF, Frigate) behind `ioc camera bridge`.

Everything leaves as canonical `ioc.events.Event`s on MQTT; this package imports `ioc` only.
"""
