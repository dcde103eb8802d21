"""Benchmarks and load harnesses, plugged into `ioc bench` by entry points (group `ioc.bench`).

Like the tests, this room may import `ioc` and every other room; no product room imports it.
"""
