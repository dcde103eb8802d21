"""Filter bar shared by pages: province (fixed for scoped users), commune, domain, severity."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboards.i18n import domain_text, severity_text, t
from ioc.events import DOMAINS
from ioc.geo import geography
from ioc.geo.names import vi_sort_key
from ioc.store import User

ALL = "all"


def province_options(user: User, lang: str) -> list[dict[str, Any]]:
    """Provinces the user may pick, in Vietnamese alphabetical order."""
    geo = geography()
    if user.province is not None:
        return [{"label": geo.provinces[user.province].short_name, "value": user.province}]
    provinces = sorted(geo.provinces.values(), key=lambda p: vi_sort_key(p.short_name))
    return [{"label": t("filter.all_provinces", lang), "value": ALL}] + [
        {"label": p.short_name, "value": p.code} for p in provinces
    ]


def commune_options(province: str | None, lang: str) -> list[dict[str, Any]]:
    """Communes of a province (none when no single province is chosen)."""
    if not province or province == ALL or not geography().is_province(province):
        return [{"label": t("filter.all_communes", lang), "value": ALL}]
    return [{"label": t("filter.all_communes", lang), "value": ALL}] + [
        {"label": c.name, "value": c.code} for c in geography().communes_of(province)
    ]


def domain_options(lang: str) -> list[dict[str, Any]]:
    """Event domains in words."""
    return [{"label": t("filter.all", lang), "value": ALL}] + [
        {"label": domain_text(d, lang), "value": d} for d in DOMAINS
    ]


def severity_options(lang: str) -> list[dict[str, Any]]:
    """Minimum severity levels."""
    return [{"label": f"≥ {severity_text(s, lang)}", "value": s} for s in range(5)]


def initial_province(user: User, requested: str | None) -> str:
    """The province a page opens on: a scoped user's own, else the requested one or all."""
    if user.province is not None:
        return user.province
    if requested and geography().is_province(requested):
        return geography().province(requested).code
    return ALL


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field")


def filter_bar(
    prefix: str,
    user: User,
    lang: str,
    *,
    province: str,
    ward: str = ALL,
    domain: str = ALL,
    severity: int = 0,
    with_domain: bool = True,
    with_severity: bool = True,
    extra: list[Any] | None = None,
) -> html.Div:
    """Dropdowns with ids {prefix}-province, -commune, -domain, -severity."""

    def dropdown(name: str, options: list[dict[str, Any]], value: Any, **kw: Any) -> html.Label:
        control = dcc.Dropdown(
            id=f"{prefix}-{name}", options=options, value=value, clearable=False, **kw
        )
        return _field(t(f"filter.{name}", lang), control)

    fields = [
        dropdown(
            "province",
            province_options(user, lang),
            province,
            disabled=user.province is not None,
            className="dropdown",
        ),
        dropdown(
            "commune", commune_options(province, lang), ward, className="dropdown dropdown-wide"
        ),
    ]
    if with_domain:
        fields.append(dropdown("domain", domain_options(lang), domain, className="dropdown"))
    if with_severity:
        fields.append(dropdown("severity", severity_options(lang), severity, className="dropdown"))
    return html.Div(fields + (extra or []), className="filter-bar")


def clean_filters(
    province: str | None, ward: str | None, domain: str | None = None, severity: Any = 0
) -> tuple[str | None, str | None, str | None, int]:
    """Turn dropdown values (with 'all') into query arguments; bad values become no filter."""
    geo = geography()
    prov = province if province and province != ALL and geo.is_province(province) else None
    wrd = ward if ward and ward != ALL and geo.is_commune(ward) else None
    if wrd is not None and (prov is None or geo.commune(wrd).province_code != prov):
        wrd = None
    dom = domain if domain in DOMAINS else None
    try:
        sev = min(4, max(0, int(severity or 0)))
    except (TypeError, ValueError):
        sev = 0
    return prov, wrd, dom, sev
