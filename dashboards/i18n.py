"""Interface texts in Vietnamese (default) and English; pure lookups, no request state."""

from __future__ import annotations

from ioc.events import KIND_ATTRS

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

# key -> (Vietnamese, English)
TEXTS: dict[str, tuple[str, str]] = {
    "app.title": (
        "Trung tâm Giám sát, điều hành thông minh (IOC)",
        "Intelligent Operations Centre (IOC)",
    ),
    "app.short": ("IOC", "IOC"),
    "nav.live": ("Trực tiếp", "Live"),
    "nav.cameras": ("Camera", "Cameras"),
    "nav.replay": ("Phát lại", "Replay"),
    "nav.kpi": ("Chỉ số", "KPIs"),
    "nav.lookup": ("Tra cứu dân cư", "Population lookup"),
    "nav.audit": ("Nhật ký truy vết", "Audit log"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "role.operator": ("Cán bộ trực", "Duty officer"),
    "role.leader": ("Lãnh đạo", "Leader"),
    "role.engineer": ("Kỹ sư", "Engineer"),
    "role.admin": ("Quản trị", "Admin"),
    "scope.national": ("Toàn quốc", "National"),
    "login.title": ("Đăng nhập", "Sign in"),
    "login.username": ("Tên đăng nhập", "Username"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Sign in"),
    "login.error": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.throttled": (
        "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {seconds} giây.",
        "Too many failed sign-ins. Please try again in {seconds} seconds.",
    ),
    "login.expired": (
        "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
        "Your session has ended; please sign in again.",
    ),
    "login.hint": (
        "Tài khoản do quản trị viên cấp (lệnh `ioc users add`).",
        "Accounts are issued by an administrator (`ioc users add`).",
    ),
    "denied.title": ("Không có quyền truy cập", "Access denied"),
    "denied.body": (
        "Vai trò của bạn không được xem trang này.",
        "Your role may not open this page.",
    ),
    "fresh.none": ("Chưa có dữ liệu", "No data yet"),
    "fresh.label": ("Dữ liệu mới nhất", "Newest data"),
    "fresh.ago": ("trước", "ago"),
    "fresh.ahead": ("giờ nguồn sớm hơn", "source clock ahead by"),
    "fresh.stale": ("Dữ liệu đã ngừng cập nhật", "Data has stopped updating"),
    "fresh.ingest_down": ("Bộ thu nhận không phản hồi", "Ingest not responding"),
    "fresh.offline": ("Mất kết nối máy chủ", "Server connection lost"),
    "fresh.replica": ("bản sao dữ liệu trễ", "read replica behind by"),
    "clock.tz": ("Giờ Việt Nam", "Vietnam time"),
    "filter.province": ("Tỉnh/thành", "Province"),
    "filter.commune": ("Xã/phường/đặc khu", "Commune"),
    "filter.domain": ("Lĩnh vực", "Domain"),
    "filter.severity": ("Mức độ tối thiểu", "Minimum severity"),
    "filter.status": ("Tình trạng", "Status"),
    "filter.all": ("Tất cả", "All"),
    "filter.all_provinces": ("Tất cả tỉnh/thành", "All provinces"),
    "filter.all_communes": ("Tất cả xã/phường/đặc khu", "All communes"),
    "feed.title": ("Sự kiện mới", "Incident feed"),
    "feed.empty": ("Chưa có sự kiện nào khớp bộ lọc.", "No incidents match the filters."),
    "feed.time": ("Thời gian", "Time"),
    "feed.place": ("Địa điểm", "Place"),
    "feed.kind": ("Loại", "Kind"),
    "feed.severity": ("Mức độ", "Severity"),
    "feed.source": ("Nguồn", "Source"),
    "alarms.title": ("Hàng đợi cảnh báo", "Alarm queue"),
    "alarms.empty": ("Không có cảnh báo đang mở.", "No open alarms."),
    "alarms.open_for": ("Đã mở", "Open for"),
    "alarms.ack_in": ("Hạn xác nhận", "Ack due"),
    "alarms.ack_took": ("Xác nhận sau", "Acked after"),
    "alarms.resolve_in": ("Hạn xử lý", "Resolve due"),
    "alarms.events": ("sự kiện", "events"),
    "alarms.assigned": ("Giao cho", "Assigned to"),
    "alarms.unassigned": ("Chưa giao", "Unassigned"),
    "alarms.state.open": ("Mới", "Open"),
    "alarms.state.acknowledged": ("Đã xác nhận", "Acknowledged"),
    "alarms.state.resolved": ("Đã xử lý", "Resolved"),
    "alarms.select": ("Chọn một cảnh báo để xử lý.", "Select an alarm to act on it."),
    "alarms.ack": ("Xác nhận", "Acknowledge"),
    "alarms.assign": ("Giao việc", "Assign"),
    "alarms.assign_ph": ("Người hoặc đơn vị nhận", "User or unit"),
    "alarms.comment": ("Ghi chú", "Comment"),
    "alarms.comment_ph": ("Nội dung ghi chú", "Comment text"),
    "alarms.resolve": ("Đóng cảnh báo", "Resolve"),
    "alarms.resolve_ph": ("Kết quả xử lý (bắt buộc)", "Resolution note (required)"),
    "alarms.log": ("Nhật ký xử lý", "Action log"),
    "alarms.no_permission": (
        "Vai trò của bạn chỉ được xem cảnh báo.",
        "Your role may only view alarms.",
    ),
    "alarms.done": ("Đã ghi nhận.", "Saved."),
    "alarms.conflict": (
        "Không thực hiện được: cảnh báo hiện ở trạng thái {state}.",
        "Not done: the alarm is now {state}.",
    ),
    "alarms.need_note": ("Cần nhập kết quả xử lý.", "A resolution note is required."),
    "alarms.need_assignee": ("Cần nhập người hoặc đơn vị nhận.", "An assignee is required."),
    "alarms.need_comment": ("Cần nhập nội dung ghi chú.", "Comment text is required."),
    "alarms.show_resolved": ("Hiện cảnh báo đã xử lý", "Show resolved alarms"),
    "alarms.overdue": ("quá hạn", "overdue"),
    "action.opened": ("mở cảnh báo", "opened"),
    "action.merged": ("gộp sự kiện lặp", "merged a repeat"),
    "action.acknowledge": ("xác nhận", "acknowledged"),
    "action.assign": ("giao cho", "assigned to"),
    "action.comment": ("ghi chú", "commented"),
    "action.resolve": ("đóng", "resolved"),
    "map.title": ("Bản đồ trực tiếp", "Live map"),
    "map.incidents": ("Sự cố (60 phút)", "Incidents (60 min)"),
    "map.incident_areas": ("Sự cố theo xã (60 phút)", "Incidents by commune (60 min)"),
    "map.buses": ("Xe buýt", "Buses"),
    "map.cameras": ("Camera", "Cameras"),
    "map.gaps": ("Thôn mất sóng", "Signal-gap villages"),
    "map.outages": ("Mất điện", "Power outages"),
    "map.details": ("Chi tiết", "Details"),
    "map.click_hint": (
        "Bấm vào một điểm trên bản đồ để xem chi tiết.",
        "Click a point on the map for its details.",
    ),
    "map.count": ("sự cố", "incidents"),
    "health.title": ("Tình trạng thu nhận", "Ingest health"),
    "health.per_minute": ("Sự kiện mỗi phút theo lĩnh vực", "Events per minute by domain"),
    "health.dead_letters": ("Bản tin lỗi", "Dead letters"),
    "health.workers": ("Bộ thu nhận", "Ingest workers"),
    "health.no_workers": ("Chưa có bộ thu nhận nào báo cáo.", "No ingest worker has reported."),
    "health.heartbeat": ("Nhịp", "Heartbeat"),
    "health.queue": ("Hàng đợi", "Queue"),
    "health.lag": ("Độ trễ", "Lag"),
    "health.written": ("Đã ghi", "Written"),
    "health.last_reason": ("Lỗi gần nhất", "Latest reason"),
    "cam.title": ("Màn hình camera", "Camera wall"),
    "cam.status.ok": ("Bình thường", "Healthy"),
    "cam.status.fault": ("Có sự cố", "Fault"),
    "cam.status.offline": ("Mất kết nối", "Offline"),
    "cam.status.unknown": ("Chưa rõ", "Unknown"),
    "cam.no_snapshot": ("Chưa có ảnh", "No snapshot"),
    "cam.empty": ("Không có camera nào khớp bộ lọc.", "No cameras match the filters."),
    "cam.last_seen": ("Tín hiệu cuối", "Last seen"),
    "cam.history": ("Lịch sử camera", "Camera history"),
    "cam.timeline": ("Tình trạng 24 giờ qua", "Health, last 24 hours"),
    "cam.recent": ("Sự kiện gần đây", "Recent events"),
    "cam.snapshots": ("Ảnh chụp gần đây", "Recent snapshots"),
    "cam.close": ("Đóng", "Close"),
    "cam.count": ("camera", "cameras"),
    "cam.no_conditions": ("Không có sự cố", "No conditions"),
    "cam.conditions": ("Sự cố đang mở", "Open conditions"),
    "replay.title": ("Phát lại dữ liệu mẫu", "Replay sample feeds"),
    "replay.feed": ("Tệp dữ liệu", "Feed file"),
    "replay.speed": ("Tốc độ", "Speed"),
    "replay.window": ("Khoảng thời gian trong tệp", "Time window in the file"),
    "replay.from": ("Từ (HH:MM)", "From (HH:MM)"),
    "replay.to": ("Đến (HH:MM)", "Until (HH:MM)"),
    "replay.loop": ("Lặp lại", "Loop"),
    "replay.rebase": ("Dời thời gian về hiện tại", "Rebase time to now"),
    "replay.start": ("Bắt đầu", "Start"),
    "replay.stop": ("Dừng", "Stop"),
    "replay.running": ("Đang phát", "Running"),
    "replay.stopped": ("Đã dừng", "Stopped"),
    "replay.finished": ("Đã xong", "Finished"),
    "replay.failed": ("Lỗi", "Failed"),
    "replay.none": ("Chưa có lần phát lại nào.", "No replay yet."),
    "replay.no_feeds": ("Không tìm thấy tệp dữ liệu mẫu.", "No sample feeds found."),
    "replay.progress": ("Tiến độ", "Progress"),
    "replay.log": ("Nhật ký", "Log"),
    "replay.broker": ("Máy chủ MQTT", "MQTT broker"),
    "replay.stored": ("Sự kiện đã lưu từ khi bắt đầu", "Events stored since start"),
    "replay.hint": (
        "Dữ liệu đi qua MQTT và bộ thu nhận như thiết bị thật; trang Trực tiếp hiển thị kết quả.",
        "Events go through MQTT and ingest like real devices; the Live page shows them.",
    ),
    "common.close": ("Đóng", "Close"),
    "common.loading": ("Đang tải…", "Loading…"),
    "common.none": ("—", "—"),
    "unit.s": ("giây", "s"),
    # KPI pages
    "kpi.title": ("Chỉ số điều hành", "Performance indicators"),
    "kpi.indicator": ("Chỉ số", "Indicator"),
    "kpi.window": ("Khoảng thời gian", "Period"),
    "kpi.window.24h": ("24 giờ", "24 h"),
    "kpi.window.7d": ("7 ngày", "7 days"),
    "kpi.window.30d": ("30 ngày", "30 days"),
    "kpi.window.custom": ("Tùy chọn", "Custom"),
    "kpi.compare": ("So với kỳ trước", "Compare with previous period"),
    "kpi.national": ("Toàn quốc", "National"),
    "kpi.back": ("← Toàn quốc", "← National"),
    "kpi.rank": ("Hạng", "Rank"),
    "kpi.unit": ("Đơn vị", "Unit"),
    "kpi.province": ("Tỉnh/thành", "Province"),
    "kpi.commune": ("Xã/phường/đặc khu", "Commune"),
    "kpi.value": ("Giá trị", "Value"),
    "kpi.previous": ("Kỳ trước", "Previous"),
    "kpi.change": ("Thay đổi", "Change"),
    "kpi.population": ("Quy mô dân số", "Population"),
    "kpi.area": ("Diện tích", "Area"),
    "kpi.people": ("người", "people"),
    "kpi.pop.published": ("số công bố", "published figure"),
    "kpi.pop.scaled": (
        "số công bố hiệu chỉnh theo tổng của tỉnh",
        "published, scaled to province total",
    ),
    "kpi.pop.estimated": ("ước tính theo diện tích", "estimated from area"),
    "kpi.formula": ("Cách tính", "Formula"),
    "kpi.sources": ("Nguồn dữ liệu", "Source events"),
    "kpi.direction": ("Chiều tốt", "Better when"),
    "kpi.no_data": ("không có dữ liệu", "no data"),
    "kpi.trend": ("Diễn biến", "Trend"),
    "kpi.current_period": ("Kỳ này", "This period"),
    "kpi.previous_period": ("Kỳ trước", "Previous period"),
    "kpi.partial": ("chưa trọn", "partial"),
    "kpi.no_trend": (
        "Chỉ số này chỉ có giá trị hiện tại.",
        "This indicator has a current value only.",
    ),
    "kpi.export_csv": ("Tải CSV", "Download CSV"),
    "kpi.export_png": ("Tải ảnh bản đồ", "Download map PNG"),
    "kpi.export_report": ("Báo cáo tỉnh", "Province report"),
    "kpi.report_hint": (
        "Chọn một tỉnh trên bản đồ để lập báo cáo.",
        "Pick a province on the map to make its report.",
    ),
    "kpi.click_hint": (
        "Bấm vào một tỉnh để xem các xã; bấm vào một xã để xem diễn biến.",
        "Click a province to see its communes; click a commune for its trend.",
    ),
    "kpi.better": ("tốt hơn", "better"),
    "kpi.worse": ("kém hơn", "worse"),
    "kpi.same": ("không đổi", "unchanged"),
    "kpi.from": ("Từ", "From"),
    "kpi.to": ("đến", "to"),
    "kpi.period": ("Kỳ", "Period"),
    "kpi.bad_period": ("Khoảng thời gian không hợp lệ.", "Invalid period."),
    "kpi.of": ("trên", "of"),
    "kpi.bd.met": ("đúng hạn", "within SLA"),
    "kpi.bd.missed": ("quá hạn", "missed"),
    "kpi.bd.pending": ("còn trong hạn", "still within SLA"),
    "kpi.bd.cameras": ("camera", "cameras"),
    "kpi.bd.down_hours": ("giờ có sự cố", "hours down"),
    "kpi.bd.communes": ("xã/phường/đặc khu bị ảnh hưởng", "communes affected"),
    # lookup.py
    "lookup.title": ("Tra cứu dân cư", "Population lookup"),
    "lookup.notice": (
        "Chỉ tra cứu khi có mục đích và số hồ sơ vụ việc. Mọi lượt tra cứu, kể cả bị từ chối, "
        "đều được ghi vào nhật ký truy vết.",
        "Look up only with a purpose and a case number. Every lookup, refused ones included, "
        "is written to the audit log.",
    ),
    "lookup.purpose": ("Mục đích tra cứu", "Purpose"),
    "lookup.case": ("Số hồ sơ vụ việc", "Case number"),
    "lookup.case_ph": ("VD: SC-2025-0042 hoặc 123/QĐ-CA", "e.g. SC-2025-0042 or 123/QĐ-CA"),
    "lookup.mode": ("Tra cứu theo", "Look up by"),
    "lookup.mode.id": ("Số định danh cá nhân", "Personal ID number"),
    "lookup.mode.name": ("Họ tên, năm sinh và nơi cư trú", "Name, birth year and commune"),
    "lookup.id": ("Số định danh (12 chữ số)", "ID number (12 digits)"),
    "lookup.province": ("Tỉnh/thành", "Province"),
    "lookup.commune": ("Xã/phường/đặc khu cư trú", "Commune of residence"),
    "lookup.commune_ph": ("Chọn xã/phường/đặc khu", "Choose a commune"),
    "lookup.name": ("Họ và tên", "Full name"),
    "lookup.year": ("Năm sinh", "Birth year"),
    "lookup.submit": ("Tra cứu", "Look up"),
    "lookup.remaining": ("Lượt tra cứu còn lại (10 phút)", "Lookups left (10 minutes)"),
    "lookup.from_alarm": ("Từ cảnh báo", "From alarm"),
    "lookup.none": ("Không tìm thấy người phù hợp.", "No matching person."),
    "lookup.found": ("Kết quả", "Results"),
    "lookup.masked": (
        "Số định danh và ngày sinh đã được che theo quyền của bạn.",
        "ID numbers and birth dates are masked for your role.",
    ),
    "lookup.truncated": (
        "Chỉ hiển thị một phần kết quả; hãy thu hẹp điều kiện tra cứu.",
        "Only part of the results is shown; narrow the query.",
    ),
    "lookup.audit_ref": ("Mã nhật ký", "Audit record"),
    "lookup.col.id": ("Số định danh", "ID number"),
    "lookup.col.name": ("Họ và tên", "Full name"),
    "lookup.col.sex": ("Giới tính", "Sex"),
    "lookup.col.birth": ("Năm sinh", "Birth"),
    "lookup.col.place": ("Nơi cư trú", "Residence"),
    "lookup.col.household": ("Số người trong hộ", "Household size"),
    "lookup.sex.M": ("Nam", "Male"),
    "lookup.sex.F": ("Nữ", "Female"),
    "lookup.failed": ("Không kết nối được cơ sở dữ liệu dân cư", "Population service unavailable"),
    "lookup.refused.not_authenticated": ("Cần đăng nhập.", "Please sign in."),
    "lookup.refused.forbidden": (
        "Vai trò của bạn không được tra cứu dân cư.",
        "Your role may not look up residents.",
    ),
    "lookup.refused.purpose": ("Chọn mục đích tra cứu.", "Choose a purpose."),
    "lookup.refused.case_number": (
        "Số hồ sơ: 1-64 ký tự gồm chữ, số, '-' hoặc '/'.",
        "Case number: 1-64 letters, digits, '-' or '/'.",
    ),
    "lookup.refused.query": (
        "Nhập số định danh 12 chữ số, hoặc họ tên, năm sinh và xã/phường/đặc khu.",
        "Enter a 12-digit ID, or a full name, birth year and commune.",
    ),
    "lookup.refused.scope": (
        "Nơi cư trú ngoài phạm vi tỉnh của tài khoản.",
        "That commune is outside your account's province.",
    ),
    "lookup.refused.rate_limited": (
        "Đã hết lượt tra cứu trong 10 phút; vui lòng thử lại sau.",
        "Lookup limit reached for 10 minutes; please try again later.",
    ),
    # audit.py
    "audit.title": ("Nhật ký truy vết", "Audit log"),
    "audit.notice": (
        "Nhật ký chỉ được ghi thêm, không sửa hay xóa được. Mọi lần xuất đều được ghi lại.",
        "The log is append-only: it cannot be edited or deleted. Every export is recorded.",
    ),
    "audit.actor": ("Người thực hiện", "Actor"),
    "audit.action": ("Hành động", "Action"),
    "audit.all": ("Tất cả", "All"),
    "audit.since": ("Từ ngày", "Since"),
    "audit.limit": ("Số dòng tối đa", "Max rows"),
    "audit.filter": ("Lọc", "Filter"),
    "audit.export": ("Xuất CSV", "Export CSV"),
    "audit.count": ("dòng", "rows"),
    "audit.bad_date": (
        "Ngày không hợp lệ (YYYY-MM-DD), bỏ qua.",
        "Invalid date (YYYY-MM-DD), ignored.",
    ),
    "audit.col.id": ("#", "#"),
    "audit.col.ts": ("Thời điểm", "Time"),
    "audit.col.actor": ("Người thực hiện", "Actor"),
    "audit.col.action": ("Hành động", "Action"),
    "audit.col.target": ("Đối tượng", "Target"),
    "audit.col.province": ("Tỉnh", "Province"),
    "audit.national": ("Toàn quốc", "National"),
    "audit.col.details": ("Chi tiết", "Details"),
    "audit.empty": ("Không có bản ghi nào khớp bộ lọc.", "No records match the filters."),
}

SEVERITY_TEXT: dict[int, tuple[str, str]] = {
    0: ("Thông tin", "Info"),
    1: ("Thấp", "Low"),
    2: ("Trung bình", "Medium"),
    3: ("Cao", "High"),
    4: ("Khẩn cấp", "Critical"),
}

DOMAIN_TEXT: dict[str, tuple[str, str]] = {
    "security": ("An ninh", "Security"),
    "transport": ("Giao thông công cộng", "Public transport"),
    "network": ("Mạng di động", "Mobile network"),
    "power": ("Điện lực", "Power"),
    "camera": ("Camera", "Camera"),
    "sensor": ("Cảm biến", "Sensors"),
}

KIND_TEXT: dict[str, tuple[str, str]] = {
    "security.intrusion": ("Xâm nhập trái phép", "Intrusion"),
    "security.crowd": ("Tụ tập đông người", "Crowd gathering"),
    "security.fighting": ("Ẩu đả", "Fighting"),
    "security.fire": ("Cháy/khói", "Fire or smoke"),
    "security.line_crossing": ("Vượt hàng rào ảo", "Line crossing"),
    "security.loitering": ("Lảng vảng", "Loitering"),
    "security.traffic_violation": ("Vi phạm giao thông", "Traffic violation"),
    "security.plate_read": ("Nhận dạng biển số", "Plate read"),
    "transport.position": ("Vị trí xe", "Vehicle position"),
    "transport.stop_arrival": ("Xe đến điểm dừng", "Stop arrival"),
    "transport.stop_departure": ("Xe rời điểm dừng", "Stop departure"),
    "transport.panic": ("Bấm nút khẩn cấp trên xe", "Panic button"),
    "transport.overcrowding": ("Xe quá đông", "Overcrowding"),
    "transport.onboard_camera": ("Camera trên xe cảnh báo", "On-board camera alert"),
    "network.signal_sample": ("Đo sóng di động", "Signal sample"),
    "network.gap_opened": ("Thôn mất sóng", "Coverage gap opened"),
    "network.gap_closed": ("Thôn có sóng trở lại", "Coverage gap closed"),
    "network.cell_down": ("Trạm phát sóng ngừng", "Cell site down"),
    "network.cell_up": ("Trạm phát sóng hoạt động lại", "Cell site up"),
    "power.outage_started": ("Mất điện", "Power outage"),
    "power.outage_restored": ("Có điện trở lại", "Power restored"),
    "camera.offline": ("Camera mất kết nối", "Camera offline"),
    "camera.frozen": ("Hình camera bị đứng", "Camera frozen"),
    "camera.covered": ("Camera bị che", "Camera covered"),
    "camera.too_bright": ("Camera quá sáng", "Camera too bright"),
    "camera.blurred": ("Camera mờ", "Camera blurred"),
    "camera.scene_change": ("Camera bị xoay/đổi cảnh", "Camera scene changed"),
    "camera.motion": ("Phát hiện chuyển động", "Motion"),
    "camera.snapshot": ("Ảnh chụp camera", "Camera snapshot"),
    "sensor.reading": ("Số đo cảm biến", "Sensor reading"),
    "sensor.alert": ("Cảm biến vượt ngưỡng", "Sensor alert"),
}
assert set(KIND_TEXT) == set(KIND_ATTRS), "every event kind needs words"


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def normalise_language(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """A supported language code, falling back to default."""
    return lang if lang in LANGUAGES else default


def t(key: str, lang: str) -> str:
    """The text for key in lang (the key itself when missing, so gaps are visible)."""
    pair = TEXTS.get(key)
    return _pick(pair, lang) if pair else key


def kind_text(kind: str, lang: str) -> str:
    """An event kind in words."""
    pair = KIND_TEXT.get(kind)
    return _pick(pair, lang) if pair else kind


def severity_text(severity: int, lang: str) -> str:
    """A severity level in words."""
    return _pick(SEVERITY_TEXT.get(int(severity), (str(severity), str(severity))), lang)


def domain_text(domain: str, lang: str) -> str:
    """A domain in words."""
    pair = DOMAIN_TEXT.get(domain)
    return _pick(pair, lang) if pair else domain


def role_text(role: str, lang: str) -> str:
    """A role in words."""
    return t(f"role.{role}", lang)
