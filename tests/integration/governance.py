"""standardize and quality end to end, checked against an independent Python implementation
of the rules (phones, GB 11643 ID numbers, addresses, names) and of the scores:
  1. a few hundred records of every shape, written here, through file -> standardize ->
     quality (and quality straight on the raw records), on 2 workers;
  2. the generator with bad_ratio 0.2 -> standardize -> quality, compared with `sluice gen`'s
     events decoded here: every bad value class is flagged with the right reason;
  3. option errors `sluice validate` reports."""
import datetime
import json
import os
import random
import time

from common import check, ok, read_jsonl_dir, run, tmpdir, write

# ---- The rules, from the specification -----------------------------------------------------

WS = set(" \t\n\v\f\r\u3000\u00a0")
DIGITS = set("0123456789")
IN_MAX = 4096
NAME_MAX = 96
MIN_YEAR = 1800
CST = datetime.timezone(datetime.timedelta(hours=8))
EPOCH = datetime.date(1970, 1, 1)

# code, municipality, full name, short name, variant
PROVINCES = [
    (11, True, "北京市", "北京", None), (12, True, "天津市", "天津", None),
    (13, False, "河北省", "河北", None), (14, False, "山西省", "山西", None),
    (15, False, "内蒙古自治区", "内蒙古", None), (21, False, "辽宁省", "辽宁", None),
    (22, False, "吉林省", "吉林", None), (23, False, "黑龙江省", "黑龙江", None),
    (31, True, "上海市", "上海", None), (32, False, "江苏省", "江苏", None),
    (33, False, "浙江省", "浙江", None), (34, False, "安徽省", "安徽", None),
    (35, False, "福建省", "福建", None), (36, False, "江西省", "江西", None),
    (37, False, "山东省", "山东", None), (41, False, "河南省", "河南", None),
    (42, False, "湖北省", "湖北", None), (43, False, "湖南省", "湖南", None),
    (44, False, "广东省", "广东", None), (45, False, "广西壮族自治区", "广西", "广西自治区"),
    (46, False, "海南省", "海南", None), (50, True, "重庆市", "重庆", None),
    (51, False, "四川省", "四川", None), (52, False, "贵州省", "贵州", None),
    (53, False, "云南省", "云南", None), (54, False, "西藏自治区", "西藏", None),
    (61, False, "陕西省", "陕西", None), (62, False, "甘肃省", "甘肃", None),
    (63, False, "青海省", "青海", None), (64, False, "宁夏回族自治区", "宁夏", "宁夏自治区"),
    (65, False, "新疆维吾尔自治区", "新疆", "新疆自治区"), (71, False, "台湾省", "台湾", None),
    (81, False, "香港特别行政区", "香港", "香港特区"),
    (82, False, "澳门特别行政区", "澳门", "澳门特区"),
]
check(len(PROVINCES) == 34, "34 province-level divisions")
REGION_CODES = {p[0] for p in PROVINCES} | {83}
SPELLINGS = sorted(((s, p, s == p[2]) for p in PROVINCES for s in p[2:] if s),
                   key=lambda x: -len(x[0].encode()))
WEIGHTS = [1.0, 7.0, 0.0, 0.5, 3.0]


def nbytes(s):
    return len(s.encode())


def isdig(s):
    return all(c in DIGITS for c in s)


def fold(c):
    o = ord(c)
    return chr(o - 0xFEE0) if 0xFF01 <= o <= 0xFF5E else c


def is_control(c):
    return ord(c) < 0x20 or c == "\x7f"


def clean_text(s):
    """Full-width folded, whitespace runs -> one space, trimmed; and whether a control
    character was seen."""
    out, space, bad = [], False, False
    for ch in s:
        if ch in WS:
            space = True
            continue
        c = fold(ch)
        bad |= is_control(c)
        if space and out:
            out.append(" ")
        space = False
        out.append(c)
    return "".join(out), bad


def squeeze(s, drop="", upper_x=False):
    """Full-width folded, whitespace and `drop` characters removed."""
    out, bad = [], False
    for ch in s:
        if ch in WS:
            continue
        c = fold(ch)
        bad |= is_control(c)
        if c in drop:
            continue
        out.append("X" if upper_x and c == "x" else c)
    return "".join(out), bad


VALID = {"ok", "converted_15", "landline"}


def res(value, reason, **extra):
    return dict(value=value, reason=reason, valid=reason in VALID, **extra)


def std_phone(s):
    if s is None:
        return res(None, "null", type="invalid")
    if nbytes(s) > IN_MAX:
        return res(s, "bad_length", type="invalid")
    c, bad = squeeze(s, "-()")
    if c == "":
        return res("", "empty", type="invalid")
    if bad:
        return res(s, "bad_char", type="invalid")
    d, intl = c, False
    if d.startswith("+86"):
        d, intl = d[3:], True
    elif d.startswith("0086"):
        d, intl = d[4:], True
    elif nbytes(d) == 13 and d.startswith("861") and d[3] in "3456789":
        d, intl = d[2:], True
    elif d[0] == "+":
        return res(c, "bad_prefix" if isdig(d[1:]) else "bad_char", type="invalid")
    if not isdig(d):
        return res(c, "bad_char", type="invalid")
    if d == "":
        return res(c, "bad_length", type="invalid")
    if intl and d[0] != "0" and not (d[0] == "1" and len(d) >= 2 and d[1] in "3456789"):
        if len(d) + 1 > 12:
            return res(c, "bad_length", type="invalid")
        d = "0" + d
    if d[0] == "1":
        if len(d) != 11:
            return res(c, "bad_length", type="invalid")
        if d[1] not in "3456789":
            return res(c, "bad_prefix", type="invalid")
        return res(d, "ok", type="mobile")
    if d[0] != "0":
        return res(c, "bad_prefix", type="invalid")
    if len(d) < 3:
        return res(c, "bad_length", type="invalid")
    if d[1] == "0" or (d[1] == "1" and d[2] != "0"):
        return res(c, "bad_prefix", type="invalid")
    area = 3 if d[1] in "12" else 4
    local = len(d) - area
    if not (local == 8 or (local == 7 and area == 4)):
        return res(c, "bad_length", type="invalid")
    if d[area] == "0":
        return res(c, "bad_prefix", type="invalid")
    return res(d[:area] + "-" + d[area:], "landline", type="landline")


W17 = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def check_char(first17):
    return "10X98765432"[sum(int(a) * w for a, w in zip(first17, W17)) % 11]


def id_date_region(s, today):
    """Birth date (days) and gender of 18 digits, or the reason they are wrong."""
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "bad_birth_date", None, None
    if born.year < MIN_YEAR or born > today:
        return "bad_birth_date", None, None
    if int(s[:2]) not in REGION_CODES:
        return "bad_region", None, None
    return "ok", born, "M" if int(s[16]) % 2 else "F"


def std_id(s, today):
    if s is None:
        return res(None, "null", birth=None, gender=None)
    if nbytes(s) > IN_MAX:
        return res(s, "bad_length", birth=None, gender=None)
    c, bad = squeeze(s, upper_x=True)
    if c == "":
        return res("", "empty", birth=None, gender=None)
    if bad:
        return res(s, "bad_char", birth=None, gender=None)
    n = nbytes(c)
    if n == 18:
        if not c.isascii() or not isdig(c[:17]) or not (c[17] in DIGITS or c[17] == "X"):
            return res(c, "bad_char", birth=None, gender=None)
        if check_char(c[:17]) != c[17]:
            return res(c, "bad_check_digit", birth=None, gender=None)
        why, born, g = id_date_region(c, today)
        return res(c, why, birth=born, gender=g)
    if n == 15:
        if not c.isascii() or not isdig(c):
            return res(c, "bad_char", birth=None, gender=None)
        conv = c[:6] + "19" + c[6:]
        conv += check_char(conv)
        why, born, g = id_date_region(conv, today)
        if why != "ok":
            return res(c, why, birth=None, gender=None)
        return res(conv, "converted_15", birth=born, gender=g)
    return res(c, "bad_length", birth=None, gender=None)


def is_han(c):
    return "\u4e00" <= c <= "\u9fff"


def scan_city(s, at):
    for k in range(10):
        if at + k >= len(s) or not is_han(s[at + k]):
            return 0
        c = s[at + k]
        if k >= 1 and c in "市盟":
            return k + 1
        if k >= 2 and c == "区" and s[at + k - 1] == "地":
            return k + 1
        if k >= 3 and c == "州" and s[at + k - 2:at + k] == "自治":
            return k + 1
        if c in "区县市路街号巷弄":
            return 0
    return 0


def scan_district(s, at):
    for k in range(8):
        if at + k >= len(s) or not is_han(s[at + k]):
            return 0
        c = s[at + k]
        if c in "区县市":
            return k + 1 if k >= 1 else 0
        if c in "路街号巷弄":
            return 0
    return 0


def std_address(s):
    none = dict(province=None, city=None, district=None)
    if s is None:
        return res(None, "null", **none)
    if nbytes(s) > IN_MAX:
        return res(s, "bad_length", **none)
    c, bad = clean_text(s)
    if c == "":
        return res("", "empty", **none)
    if bad:
        return res(c, "bad_char", **none)
    hit = next(((sp, p, full) for sp, p, full in SPELLINGS if c.startswith(sp)), None)
    if not hit:
        return res(c, "no_province", **none)
    sp, p, is_full = hit
    matched, full = len(sp), p[2]
    if not is_full and not p[1] and c[matched:matched + 1] == "市":
        matched = 0  # 吉林市: the prefecture city; the province goes in front
    if not is_full or matched == 0:
        if nbytes(full) + nbytes(c[matched:]) > IN_MAX:
            return res(c, "bad_length", **none)
        c = full + c[matched:]
    at = len(full)
    if c[at:at + 1] == " ":
        at += 1
    city = district = None
    if p[1]:
        city = full
    else:
        k = scan_city(c, at)
        if k:
            city, at = c[at:at + k], at + k
            if c[at:at + 1] == " ":
                at += 1
    k = scan_district(c, at)
    if k:
        district = c[at:at + k]
    return res(c, "ok", province=full, city=city, district=district)


def std_name(s):
    if s is None:
        return res(None, "null")
    if nbytes(s) > IN_MAX:
        return res(s, "bad_length")
    c, bad = clean_text(s)
    if c == "":
        return res("", "empty")
    if bad or any(ch in DIGITS for ch in c):
        return res(c, "bad_char")
    if nbytes(c) > NAME_MAX:
        return res(c, "bad_length")
    return res(c, "ok")


def blank(v):
    return v is None or (isinstance(v, str) and all(ch in WS for ch in v))


def declared_gender(g):
    if g is None:
        return None
    g = g.strip(" \t").lower()
    return {"m": "M", "male": "M", "1": "M", "男": "M", "f": "F", "female": "F", "2": "F",
            "女": "F"}.get(g)


def timeliness(change_ms, now_ms, fresh_ms, stale_ms):
    if change_ms is None:
        return 0.0
    age = now_ms - change_ms
    if age <= fresh_ms:
        return 1.0
    if age >= stale_ms:
        return 0.0
    return 1 - (age - fresh_ms) / (stale_ms - fresh_ms)


def ts_text(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def date_text(d):
    return d.isoformat() if d else None


def cst_today(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, CST).date()


# ---- Records of every shape ------------------------------------------------------------------

rng = random.Random(20261122)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
CITIES = ["深圳市", "津市", "广州市", "南京市", "杭州市", "成都市", "呼和浩特市", "乌鲁木齐市",
          "延边朝鲜族自治州", "阿克苏地区", "锡林郭勒盟", "台北市"]
DISTRICTS = ["南山区", "海淀区", "浦东新区", "西湖区", "昆山市", "长安县", "沙依巴克区", "九龙城区"]
ROADS = ["科技园路", "人民路", "中关村大街", "世纪大道", "解放路", "幸福巷"]


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.7 else c
                   for c in s)


def digits(n, first="0123456789"):
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def make_phone():
    k = rng.randrange(22)
    mob = "1" + rng.choice("3456789") + digits(9)
    if k == 0:
        return mob
    if k == 1:
        return f"+86 {mob[:3]} {mob[3:7]} {mob[7:]}"
    if k == 2:
        return f"0086-{mob[:3]}-{mob[3:7]}-{mob[7:]}"
    if k == 3:
        return "86" + mob
    if k == 4:
        return "(+86)" + mob
    if k == 5:
        return fullwidth(mob)
    if k == 6:
        area = rng.choice(["010", "021", "020", "029"])
        return rng.choice(["{}-{}", "({}){}", "{} {}", "{}{}"]).format(area, digits(8, "23456789"))
    if k == 7:
        area = rng.choice(["0755", "0571", "0991"])
        local = digits(rng.choice([7, 8]), "2345678")
        return rng.choice(["{}-{}", "({}){}", "{} {}"]).format(area, local)
    if k == 8:
        return "+86 " + rng.choice(["10", "755", "21"]) + " " + digits(8, "2345678")
    if k == 9:
        return mob[:rng.choice([10, 9])]
    if k == 10:
        return mob + digits(1)
    if k == 11:
        return "1" + rng.choice("012") + digits(9)
    if k == 12:
        return mob[:5] + rng.choice("aXé.") + mob[6:]
    if k == 13:
        return rng.choice(["", "  ", "--", "()"])
    if k == 14:
        return None
    if k == 15:
        return "+1 202 555 " + digits(4)
    if k == 16:
        return "001-202-555-" + digits(4)
    if k == 17:
        return rng.choice(["0755-0" + digits(7), "0755-" + digits(9, "2345678"),
                           "010-" + digits(9, "2345678"), "0571-" + digits(6, "2345678")])
    if k == 18:
        return digits(8, "23456789")
    if k == 19:
        return "011-" + digits(8)
    if k == 20:
        return mob[:3] + "\x01" + mob[3:]
    return " " + mob[:3] + "\u3000" + mob[3:] + "\t"


def valid_id18(year_lo=1930, year_hi=2010, code=None):
    code = code if code is not None else rng.choice(sorted(REGION_CODES))
    born = datetime.date(rng.randint(year_lo, year_hi), rng.randint(1, 12), rng.randint(1, 28))
    s = f"{code:02d}{rng.randint(0, 9999):04d}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return s + check_char(s)


def make_id():
    k = rng.randrange(16)
    s = valid_id18()
    if k <= 2:
        return s
    if k == 3:
        while s[17] != "X":
            s = valid_id18()
        return s[:17] + "x"
    if k == 4:
        return f" {s[:6]} {s[6:14]} {s[14:]} "
    if k == 5:
        return fullwidth(s)
    if k == 6:  # 15-digit legacy, valid or not
        code = rng.choice([11, 44, 65, 99])
        yymmdd = f"{rng.randint(20, 99):02d}{rng.randint(1, 12):02d}" \
                 f"{rng.choice([1, 15, 28, 30, 31]):02d}"
        return f"{code:02d}{rng.randint(0, 9999):04d}{yymmdd}{rng.randint(0, 999):03d}"
    if k == 7:
        return s[:17] + "0123456789X".replace(s[17], "")[rng.randrange(10)]
    if k == 8:  # a real check digit over an impossible or future birth date
        t = s[:6] + rng.choice(["19900230", "20990101", "17991231", "19811301"]) + s[14:17]
        return t + check_char(t)
    if k == 9:
        return valid_id18(code=rng.choice([10, 20, 99, 66]))
    if k == 10:
        return s[:rng.choice([16, 17])]
    if k == 11:
        return s + rng.choice("0X")
    if k == 12:
        return s[:8] + "A" + s[9:]
    if k == 13:
        return rng.choice(["", "   "])
    if k == 14:
        return None
    return s[:10] + "\u3000" + s[10:]


def make_address():
    k = rng.randrange(12)
    p = rng.choice(PROVINCES)
    spelling = rng.choice([x for x in p[2:] if x])
    rest = "".join([rng.choice(CITIES) if rng.random() < 0.7 else "",
                    rng.choice(DISTRICTS) if rng.random() < 0.7 else "",
                    rng.choice(ROADS), str(rng.randint(1, 300)), "号"])
    if k <= 3:
        return spelling + rest
    if k == 4:
        return "  " + spelling + rng.choice([" ", "\u3000", "  \t"]) + rest + " "
    if k == 5:
        return spelling + fullwidth(rest) + "（Ａ座）"
    if k == 6:
        return "吉林市" + rng.choice(DISTRICTS) + rng.choice(ROADS)
    if k == 7:
        return rest
    if k == 8:
        return rng.choice(["不详", "N/A", "???", "-", "中国广东省深圳市"])
    if k == 9:
        return rng.choice(["", "  ", "\u3000"])
    if k == 10:
        return None
    return spelling + "\x02" + rest


def make_name():
    k = rng.randrange(10)
    n = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    if k <= 3:
        return n
    if k == 4:
        return "  " + n[0] + "  " + n[1:] + "\u3000"
    if k == 5:
        return fullwidth("John") + "\u3000" + fullwidth("Smith")
    if k == 6:
        return n + rng.choice(["1", "２", "\x01"])
    if k == 7:
        return rng.choice(["", " ", "\u3000\t"])
    if k == 8:
        return None
    return n * 12  # 36+ characters: too long


NOW_MS = int(time.time() * 1000)
records = []
for key in range(1, 161):
    versions = rng.randint(1, 4)
    cur = dict(customer_id=key, name=make_name(), phone=make_phone(), id_number=make_id(),
               address=make_address())
    for v in range(versions):
        if v:
            for f in rng.sample(["name", "phone", "id_number", "address"], rng.randint(0, 2)):
                cur[f] = {"name": make_name, "phone": make_phone, "id_number": make_id,
                          "address": make_address}[f]()
        r = dict(cur)
        sid = std_id(r["id_number"], cst_today(NOW_MS))
        born = sid["birth"] or datetime.date(1990, 1, 1)
        r["birth_date"] = rng.choice([born.isoformat(), born.isoformat(), "1977-07-07", None])
        g = sid["gender"] or "M"
        r["gender"] = rng.choice([g, g, {"M": "男", "F": "女"}[g], "female", "2", "x", None])
        age = rng.choice([600e3, 2 * 86400e3, 3.5 * 86400e3, 30 * 86400e3, -3600e3, None])
        r["updated_time"] = None if age is None else int(NOW_MS - age)
        records.append(r)
# Each key's versions stay in order; keys interleave.
order = sorted(range(len(records)), key=lambda i: (rng.random() + records[i]["customer_id"] % 7,))
by_key = {}
for r in records:
    by_key.setdefault(r["customer_id"], []).append(r)
stream, cursor = [], {k: 0 for k in by_key}
for i in order:
    k = records[i]["customer_id"]
    stream.append(by_key[k][cursor[k]])
    cursor[k] += 1
check(300 <= len(stream) <= 600, f"{len(stream)} records")

d = tmpdir("governance")
with open(os.path.join(d, "in.ndjson"), "w", encoding="utf-8") as f:
    for r in stream:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")

job = write(os.path.join(d, "job.yaml"), f"""
sources:
  customers:
    type: file
    path: {d}/in.ndjson
    fields: {{customer_id: BIGINT, name: STRING, phone: STRING, id_number: STRING,
              address: STRING, birth_date: DATE, gender: STRING, updated_time: TIMESTAMP}}
steps:
  std:
    from: customers
    op: standardize
    fields: {{phone: phone, id_number: id_number, address: address, name: name}}
  q:
    from: std
    op: quality
    key: [customer_id]
    required: [name, phone, id_number, address, birth_date]
    time: updated_time
    fresh: 1h
    stale: 5d
    weights: {{completeness: 1, validity: 7, accuracy: 0, consistency: 0.5, timeliness: 3}}
  raw:
    from: customers
    op: quality
    key: [customer_id]
    fields: {{name: name, phone: phone, id_number: id_number, address: address}}
    time: updated_time
    fresh: 1h
    stale: 5d
    weights: {{completeness: 1, validity: 7, accuracy: 0, consistency: 0.5, timeliness: 3}}
sinks:
  out: {{from: q, type: file, path: {d}/out}}
  out_raw: {{from: raw, type: file, path: {d}/out_raw}}
""")
t0 = int(time.time() * 1000)
run(["run", job, "--workers", "2"])
t1 = int(time.time() * 1000)
TODAY = cst_today(t0)  # no ID number here is born near today: a run over midnight is fine
FRESH, STALE = 3600e3, 5 * 86400e3


def expected_std(r):
    """The row standardize makes of record r (input column names as in the job)."""
    ph, idn = std_phone(r["phone"]), std_id(r["id_number"], TODAY)
    ad, nm = std_address(r["address"]), std_name(r["name"])
    return {
        "customer_id": r["customer_id"], "name": nm["value"], "phone": ph["value"],
        "id_number": idn["value"], "address": ad["value"],
        "phone_valid": ph["valid"], "phone_reason": ph["reason"], "phone_type": ph["type"],
        "id_number_valid": idn["valid"], "id_number_reason": idn["reason"],
        "address_valid": ad["valid"], "address_reason": ad["reason"],
        "province": ad["province"], "city": ad["city"], "district": ad["district"],
        "name_valid": nm["valid"], "name_reason": nm["reason"],
    }, idn


class Scorer:
    """quality's scores, with its keyed state; timeliness taken as the interval of
    processing times [t0, t1] allows."""

    def __init__(self, required, weights):
        self.state = {}
        self.required, self.weights = required, weights

    def score(self, kind, key, values, image, idn, flags, change_ms, declared_birth, declared_g):
        """values: the required columns' values; image: (ID number, name) standardised."""
        present = sum(not blank(values[c]) for c in self.required)
        s = {"completeness": present / len(self.required) if self.required else 1.0,
             "validity": sum(flags) / len(flags)}
        checks = agree = 0
        if idn["valid"]:
            if declared_birth is not None:
                checks += 1
                agree += declared_birth == idn["birth"]
            g = declared_gender(declared_g)
            if g:
                checks += 1
                agree += g == idn["gender"]
        s["accuracy"] = agree / checks if checks else 1.0
        lo = timeliness(change_ms, t1, FRESH, STALE)
        hi = timeliness(change_ms, t0, FRESH, STALE)
        prev = self.state.get(key)
        stored = None
        if kind in ("+I", "+U"):
            cons = 1.0
            if prev:
                cons = 1 - 0.5 * (prev[0] != image[0]) - 0.5 * (prev[1] != image[1])
            self.state[key] = [image[0], image[1], cons, None]  # timeliness: from the output
        else:
            cons = 1.0
            if prev and (prev[0], prev[1]) == image:
                cons, stored = prev[2], prev[3]
            if prev and kind == "-D":
                del self.state[key]
        s["consistency"] = cons
        return s, (lo, hi), stored

    def check_output(self, key, kind, want, tl_range, stored, got, what):
        for dim in ("completeness", "validity", "accuracy", "consistency"):
            check(got[dim] == want[dim], f"{what}: {dim} {got[dim]} != {want[dim]}")
        t = got["timeliness"]
        if stored is not None:
            check(t == stored, f"{what}: retraction timeliness {t}, its image got {stored}")
        else:
            check(tl_range[0] - 1e-9 <= t <= tl_range[1] + 1e-9,
                  f"{what}: timeliness {t} not in {tl_range}")
        if kind in ("+I", "+U"):
            self.state[key][3] = t
        dims = [got[x] for x in ("completeness", "validity", "accuracy", "consistency",
                                 "timeliness")]
        total = 0.0
        for w, v in zip(self.weights, dims):
            total += w * v
        ws = 0.0
        for w in self.weights:
            ws += w
        check(abs(got["quality"] - total / ws) <= 1e-12,
              f"{what}: quality {got['quality']} != {total / ws}")


def per_key(rows):
    out = {}
    for r in rows:
        out.setdefault(r["customer_id"], []).append(r)
    return out


got = per_key(read_jsonl_dir(os.path.join(d, "out")))
got_raw = per_key(read_jsonl_dir(os.path.join(d, "out_raw")))
check(sorted(got) == sorted(by_key) and sorted(got_raw) == sorted(by_key), "key sets differ")
reasons_seen = {}
scorer = Scorer(["name", "phone", "id_number", "address", "birth_date"], WEIGHTS)
raw_scorer = Scorer(["name", "phone", "id_number", "address"], WEIGHTS)
for key, recs in by_key.items():
    check(len(got[key]) == len(recs) and len(got_raw[key]) == len(recs),
          f"key {key}: {len(got[key])}/{len(got_raw[key])} rows for {len(recs)} records")
    for i, r in enumerate(recs):
        want, idn = expected_std(r)
        g = got[key][i]
        what = f"key {key} version {i} ({json.dumps(r, ensure_ascii=False)})"
        ut = r["updated_time"]
        want.update(birth_date=r["birth_date"], gender=r["gender"],
                    updated_time=ts_text(ut) if ut is not None else None,
                    id_number_birth_date=date_text(idn["birth"]), id_number_gender=idn["gender"])
        for col, v in want.items():
            have = g.get(col, "<missing>")
            check(have == v, f"{what}: {col} = {have!r}, want {v!r}")
        check(g["_kind"] == "+I", f"{what}: kind {g['_kind']}")
        for role in ("phone", "id_number", "address", "name"):
            reasons_seen.setdefault(role, set()).add(want[role + "_reason"])
        declared = datetime.date.fromisoformat(r["birth_date"]) if r["birth_date"] else None
        flags = [want["phone_valid"], want["id_number_valid"], want["address_valid"],
                 want["name_valid"]]
        image = (idn["value"], want["name"])
        s, rng_t, stored = scorer.score("+I", key, dict(want, birth_date=r["birth_date"]), image,
                                        idn, flags, r["updated_time"], declared, r["gender"])
        scorer.check_output(key, "+I", s, rng_t, stored, g, what)
        # quality straight on the raw record: the same rules inside, completeness of the
        # raw values, consistency still over standardised values.
        gr = got_raw[key][i]
        s, rng_t, stored = raw_scorer.score("+I", key, r, image, idn, flags, r["updated_time"],
                                            declared, r["gender"])
        raw_scorer.check_output(key, "+I", s, rng_t, stored, gr, what + " (raw)")
        for col in ("name", "phone", "id_number", "address", "gender"):
            check(gr[col] == r[col], f"{what}: quality changed its input column {col}")
ok(f"file: {len(stream)} records over {len(by_key)} keys standardised and scored as the "
   f"Python rules say (2 workers; quality on standardised and on raw input)")
for role, want_reasons in {
        "phone": {"ok", "landline", "null", "empty", "bad_length", "bad_prefix", "bad_char"},
        "id_number": {"ok", "converted_15", "null", "empty", "bad_length", "bad_char",
                      "bad_check_digit", "bad_birth_date", "bad_region"},
        "address": {"ok", "null", "empty", "no_province", "bad_char"},
        "name": {"ok", "null", "empty", "bad_char", "bad_length"}}.items():
    check(want_reasons <= reasons_seen[role],
          f"{role}: reasons {want_reasons - reasons_seen[role]} never exercised")
ok("every reason code of every field was exercised")

# ---- Long values: standardised rows outgrow a batch's string heap ---------------------------

long_records = []
for key in range(1, 301):
    # Values that grow when standardised: short province names, 15-digit IDs, landlines.
    body = "".join(rng.choice(ROADS) + str(rng.randint(1, 999)) + "号"
                   for _ in range(rng.randint(120, 200)))
    addr = rng.choice(["新疆", "广西", "内蒙古", "宁夏"]) + rng.choice(CITIES) + body
    if key % 10 == 0:
        addr += "Ｘ" * 1000  # over 4096 bytes: bad_length, passed on unchanged
    legacy = f"{rng.choice([11, 44, 65]):02d}0105{rng.randint(30, 99):02d}" \
             f"0{rng.randint(1, 9)}1{rng.randint(1, 8)}{rng.randint(0, 999):03d}"
    long_records.append(dict(customer_id=key, name=make_name() if key % 3 else "张" * 40,
                             phone="0755" + digits(8, "2345678"), id_number=legacy, address=addr,
                             birth_date=None, gender=None, updated_time=NOW_MS))
check(sum(nbytes(r["address"]) for r in long_records) > 2 * 256 * 1024, "long values are long")
with open(os.path.join(d, "long.ndjson"), "w", encoding="utf-8") as f:
    for r in long_records:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
ljob = write(os.path.join(d, "long.yaml"), f"""
sources:
  customers:
    type: file
    path: {d}/long.ndjson
    fields: {{customer_id: BIGINT, name: STRING, phone: STRING, id_number: STRING,
              address: STRING, birth_date: DATE, gender: STRING, updated_time: TIMESTAMP}}
steps:
  std:
    from: customers
    op: standardize
    fields: {{phone: phone, id_number: id_number, address: address, name: name}}
  q: {{from: std, op: quality, key: [customer_id], time: updated_time}}
  valid: {{from: std, op: filter, where: "address_valid AND name_valid"}}
sinks:
  out: {{from: q, type: file, path: {d}/long_out}}
  out_valid: {{from: valid, type: file, path: {d}/long_valid}}
""")
t0 = int(time.time() * 1000)
run(["run", ljob, "--workers", "2"])
t1 = int(time.time() * 1000)
TODAY = cst_today(t0)
got = {r["customer_id"]: r for r in read_jsonl_dir(os.path.join(d, "long_out"))}
check(sorted(got) == list(range(1, 301)), f"long values: {len(got)} rows, want 300")
for r in long_records:
    want, idn = expected_std(r)
    g = got[r["customer_id"]]
    for col, v in want.items():
        check(g.get(col, "<missing>") == v,
              f"long values, key {r['customer_id']}: {col} = {str(g.get(col))[:80]!r}, "
              f"want {str(v)[:80]!r}")
check(sum(g["address_reason"] == "bad_length" for g in got.values()) >= 30, "too long ones")
# A filter takes a subset of each standardised batch: it must fit one batch.
valid = sorted(r["customer_id"] for r in read_jsonl_dir(os.path.join(d, "long_valid")))
check(valid == sorted(k for k, g in got.items() if g["address_valid"] and g["name_valid"]),
      f"long values: filter kept {len(valid)} rows")
ok("long values: standardised rows that outgrow a batch are split over batches, none lost")

# ---- The generator with bad values --------------------------------------------------------------

G_RECORDS, G_KEYS, G_SEED = 20000, 2000, 5
gen_text = run(["gen", "customer-cdc", "--records", str(G_RECORDS), "--keys", str(G_KEYS),
                "--seed", str(G_SEED), "--bad-ratio", "0.2"]).stdout
expected = {}
for line in gen_text.splitlines():
    ev = json.loads(line)
    op = ev["op"]
    rows = {"c": [("+I", ev["after"])], "r": [("+I", ev["after"])],
            "u": [("-U", ev["before"]), ("+U", ev["after"])], "d": [("-D", ev["before"])]}[op]
    for kind, img in rows:
        expected.setdefault(img["customer_id"], []).append((kind, img))

gjob = write(os.path.join(d, "gen.yaml"), f"""
sources:
  gen: {{type: generator, records: {G_RECORDS}, keys: {G_KEYS}, seed: {G_SEED}, bad_ratio: 0.2}}
steps:
  std:
    from: gen
    op: standardize
    fields: {{phone: phone, id_number: id_number, address: address, name: name}}
  q:
    from: std
    op: quality
    key: [customer_id]
    required: [name, phone, id_number, address]
    time: updated_time
    stale: 3650d   # the generator's changes are from 2026-01-01: keep timeliness in (0, 1)
sinks:
  out: {{from: q, type: file, path: {d}/gen_out}}
""")
t0 = int(time.time() * 1000)
run(["run", gjob, "--workers", "2"])
t1 = int(time.time() * 1000)
TODAY = cst_today(t0)
FRESH, STALE = 3600e3, 3650 * 86400e3
got = per_key(read_jsonl_dir(os.path.join(d, "gen_out")))
check(sorted(got) == sorted(expected), "generator: key sets differ")
scorer = Scorer(["name", "phone", "id_number", "address"], [0.3, 0.3, 0.1, 0.2, 0.1])
classes = {}


def flagged(cls, cond, what):
    classes[cls] = classes.get(cls, 0) + 1
    check(cond, f"{what}: bad value of class {cls} not flagged right")


n_rows = 0
for key, evs in expected.items():
    check(len(got[key]) == len(evs), f"generator key {key}: {len(got[key])} rows, want {len(evs)}")
    for i, (kind, img) in enumerate(evs):
        g = got[key][i]
        what = f"generator key {key} row {i} {kind} {json.dumps(img, ensure_ascii=False)}"
        check(g["_kind"] == kind, f"{what}: kind {g['_kind']}")
        want, idn = expected_std(img)
        want.update(updated_time=ts_text(img["updated_time"]), birth_date=date_text(idn["birth"]),
                    gender=idn["gender"])
        for col, v in want.items():
            have = g.get(col, "<missing>")
            check(have == v, f"{what}: {col} = {have!r}, want {v!r}")
        # Bad value classes, recognised from the decoded event itself.
        nm, ph, idv, ad = img["name"], img["phone"], img["id_number"], img["address"]
        if nm == "":
            flagged("empty name", not g["name_valid"] and g["name_reason"] == "empty", what)
        if ph is not None and len(ph) != 11:
            flagged("phone length", not g["phone_valid"] and g["phone_reason"] == "bad_length"
                    and g["phone_type"] == "invalid", what)
        if idv is not None and check_char(idv[:17]) != idv[17]:
            flagged("ID check digit", not g["id_number_valid"]
                    and g["id_number_reason"] == "bad_check_digit", what)
        if ad is not None and not any(ad.startswith(p[2]) for p in PROVINCES):
            flagged("malformed address", not g["address_valid"]
                    and g["address_reason"] == "no_province", what)
        for col in ("name", "phone", "id_number", "address"):
            if img[col] is None:
                flagged("null " + col, g[col] is None and not g[col + "_valid"]
                        and g[col + "_reason"] == "null", what)
        if nm and ph and len(ph) == 11 and idv and check_char(idv[:17]) == idv[17] and ad \
                and any(ad.startswith(p[2]) for p in PROVINCES):
            flagged("good image", all(g[c + "_valid"] for c in ("name", "phone", "id_number",
                                                                "address")), what)
        flags = [want["phone_valid"], want["id_number_valid"], want["address_valid"],
                 want["name_valid"]]
        s, rng_t, stored = scorer.score(kind, key, want, (idn["value"], want["name"]), idn, flags,
                                        img["updated_time"], idn["birth"], idn["gender"])
        scorer.check_output(key, kind, s, rng_t, stored, g, what)
        n_rows += 1
for cls in ("empty name", "phone length", "ID check digit", "malformed address", "null name",
            "null phone", "null id_number", "null address", "good image"):
    check(classes.get(cls, 0) > 0, f"generator: no {cls} in {n_rows} rows")
ok(f"generator bad_ratio 0.2: {n_rows} changelog rows standardised and scored as expected; "
   + ", ".join(f"{k}: {v}" for k, v in sorted(classes.items())))

# ---- Option errors ------------------------------------------------------------------------------


def invalid(steps, *fragments):
    j = write(os.path.join(d, "bad.yaml"), f"""
sources:
  gen: {{type: generator, records: 10}}
steps:
{steps}
sinks:
  out: {{from: s, type: blackhole}}
""")
    p = run(["validate", j], check=False)
    check(p.returncode == 2, f"validate exited {p.returncode} for:\n{steps}\n{p.stderr}")
    for f in fragments:
        check(f in p.stderr, f"validate: no {f!r} in:\n{p.stderr}")


invalid("  s: {from: gen, op: standardize, fields: {phon: phone}}",
        "unknown role 'phon'", "did you mean 'phone'")
invalid("  s: {from: gen, op: standardize, fields: {phone: phnoe}}",
        "no column 'phnoe'", "did you mean 'phone'")
invalid("  s: {from: gen, op: standardize, fields: {phone: customer_id}}",
        "column 'customer_id' is BIGINT, expected STRING")
invalid("  s: {from: gen, op: standardize, fields: {phone: phone, name: phone}}",
        "already has role phone")
invalid("  s: {from: gen, op: standardize, fields: [phone]}", "expected a map of role: column")
invalid("  s: {from: gen, op: quality, weights: {validty: 1}}",
        "unknown dimension 'validty'", "did you mean 'validity'")
invalid("  s: {from: gen, op: quality, weights: {validity: -1}}", "must be >= 0")
invalid("  s: {from: gen, op: quality, weights: {validity: 0}}", "at least one must be > 0")
invalid("  s: {from: gen, op: quality, fresh: 2d, stale: 1d}", "must be longer than fresh")
invalid("  s: {from: gen, op: quality, time: customer_idd}", "no column 'customer_idd'")
invalid("  s: {from: gen, op: quality, time: name}", "expected TIMESTAMP, DATE or BIGINT")
invalid("  s: {from: gen, op: quality, key: [nope]}", "no column 'nope'")
invalid("  s: {from: gen, op: quality, required: [nme]}", "no column 'nme'", "did you mean 'name'")
ok("option errors are reported with positions and suggestions")
