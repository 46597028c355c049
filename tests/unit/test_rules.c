/* Unit tests for operators/rules: phone numbers, GB 11643 ID numbers (the standard's own
 * examples, 15-digit conversions), addresses against the province table, names, cleaning.
 * Expected values are worked out by hand (check digits with the MOD 11-2 weights). */
#include "operators/rules.h"

#include "core/value.h"
#include "check.h"

/* "Today" for birth-date checks: 2026-01-01. */
static int64_t today;

struct want {
	const char *value; /* standardised value */
	const char *reason;
	bool valid;
};

static char out[SL_RULES_IN_MAX_BYTES * 2];
static char again[SL_RULES_IN_MAX_BYTES * 2];

/* Checks result against want, then that standardising the output again is a
 * fixed point (same bytes, validity, reason; converted_15 becomes ok). */
static void expect(const char *what, const char *in, struct sl_rules_result r,
		   const struct sl_rules_result *r2, const struct want *w)
{
	CHECKF(r.len == strlen(w->value) && memcmp(out, w->value, r.len) == 0,
	       "%s(\"%s\") = \"%.*s\", want \"%s\"", what, in, (int)r.len, out, w->value);
	CHECKF(strcmp(sl_rules_reason_name(r.reason), w->reason) == 0,
	       "%s(\"%s\") reason %s, want %s", what, in, sl_rules_reason_name(r.reason),
	       w->reason);
	CHECKF(r.valid == w->valid, "%s(\"%s\") valid %d, want %d", what, in, r.valid, w->valid);
	if (!r2)
		return;
	CHECKF(r2->len == r.len && memcmp(again, out, r.len) == 0,
	       "%s not idempotent on \"%s\": \"%.*s\" -> \"%.*s\"", what, in, (int)r.len, out,
	       (int)r2->len, again);
	enum sl_rules_reason want2 = r.reason == SL_REASON_CONVERTED_15 ? SL_REASON_OK : r.reason;
	CHECKF(r2->valid == r.valid && r2->reason == want2, "%s(\"%s\") again: %s/%d", what, in,
	       sl_rules_reason_name(r2->reason), r2->valid);
}

static void phone(const char *in, const char *value, const char *reason, const char *type)
{
	enum sl_phone_type t, t2;
	struct sl_rules_result r = sl_rules_phone(in, strlen(in), out, &t);
	struct sl_rules_result r2 = sl_rules_phone(out, r.len, again, &t2);
	bool valid = strcmp(reason, "ok") == 0 || strcmp(reason, "landline") == 0;
	expect("phone", in, r, &r2, &(struct want){value, reason, valid});
	CHECKF(strcmp(sl_rules_phone_type_name(t), type) == 0, "phone(\"%s\") type %s, want %s", in,
	       sl_rules_phone_type_name(t), type);
	CHECK(t2 == t);
}

static void test_phone(void)
{
	/* Mobiles: country codes, separators, full-width digits. */
	phone("13812345678", "13812345678", "ok", "mobile");
	phone("+86 138 1234 5678", "13812345678", "ok", "mobile");
	phone("+86-13812345678", "13812345678", "ok", "mobile");
	phone("0086-138-1234-5678", "13812345678", "ok", "mobile");
	phone("0086 13912345678", "13912345678", "ok", "mobile");
	phone("8613812345678", "13812345678", "ok", "mobile");
	phone("(+86)199 0000 1111", "19900001111", "ok", "mobile");
	phone("１３８１２３４５６７８", "13812345678", "ok", "mobile");
	phone("＋８６　１３８－１２３４－５６７８", "13812345678", "ok", "mobile");
	phone(" 138\t1234\t5678 ", "13812345678", "ok", "mobile");
	/* Landlines: 3-digit area codes take 8 digits, 4-digit ones 7 or 8. */
	phone("010-12345678", "010-12345678", "landline", "landline");
	phone("01012345678", "010-12345678", "landline", "landline");
	phone("(010)12345678", "010-12345678", "landline", "landline");
	phone("021 6234 5678", "021-62345678", "landline", "landline");
	phone("0755-1234567", "0755-1234567", "landline", "landline");
	phone("0755-12345678", "0755-12345678", "landline", "landline");
	phone("（０７５５）８８８８９９９９", "0755-88889999", "landline", "landline");
	phone("+86 755 12345678", "0755-12345678", "landline", "landline");
	phone("+86 10 12345678", "010-12345678", "landline", "landline");
	phone("0086 0755 2345678", "0755-2345678", "landline", "landline");
	/* Invalid: the cleaned value is kept. */
	phone("", "", "empty", "invalid");
	phone("  - ( ) ", "", "empty", "invalid");
	phone("1381234567", "1381234567", "bad_length", "invalid");
	phone("138-1234-56789", "138123456789", "bad_length", "invalid");
	phone("12812345678", "12812345678", "bad_prefix", "invalid");
	phone("10012345678", "10012345678", "bad_prefix", "invalid");
	phone("1381234567a", "1381234567a", "bad_char", "invalid");
	phone("138.1234.5678", "138.1234.5678", "bad_char", "invalid");
	phone("+86", "+86", "bad_length", "invalid");
	phone("+1 202 555 0100", "+12025550100", "bad_prefix", "invalid");
	phone("001-202-555-0100", "0012025550100", "bad_prefix", "invalid");
	phone("011-12345678", "01112345678", "bad_prefix", "invalid");
	phone("020-1234567", "0201234567", "bad_length", "invalid");
	phone("0755-123456", "0755123456", "bad_length", "invalid");
	phone("0755-123456789", "0755123456789", "bad_length", "invalid");
	phone("0755-02345678", "075502345678", "bad_prefix", "invalid");
	phone("0755-12345678", "0755-12345678", "landline", "landline");
	phone("62345678", "62345678", "bad_prefix", "invalid");
	phone("12345678", "12345678", "bad_length", "invalid");
	phone("0", "0", "bad_length", "invalid");
	phone("+86 755 1234", "+867551234", "bad_length", "invalid");
	/* Broken UTF-8 or control characters: the input unchanged. */
	phone("138\xff" "12345678", "138\xff" "12345678", "bad_char", "invalid");
	phone("138\x01" "12345678", "138\x01" "12345678", "bad_char", "invalid");
}

static void id(const char *in, const char *value, const char *reason, const char *birth,
	       char gender)
{
	struct sl_rules_id_info info = {0}, info2;
	struct sl_rules_result r = sl_rules_id_number(in, strlen(in), out, today, &info);
	struct sl_rules_result r2 = sl_rules_id_number(out, r.len, again, today, &info2);
	bool valid = strcmp(reason, "ok") == 0 || strcmp(reason, "converted_15") == 0;
	expect("id_number", in, r, &r2, &(struct want){value, reason, valid});
	if (!valid || !birth)
		return;
	union sl_val v;
	REQUIRE(sl_value_parse(SL_T_DATE, birth, strlen(birth), &v) == 0);
	CHECKF(info.birth_days == v.i, "id_number(\"%s\") birth %lld, want %s", in,
	       (long long)info.birth_days, birth);
	CHECKF(info.gender == gender, "id_number(\"%s\") gender %c, want %c", in, info.gender,
	       gender);
	CHECK(info2.birth_days == info.birth_days && info2.gender == info.gender &&
	      info2.province == info.province);
	unsigned code = (unsigned)(out[0] - '0') * 10 + (unsigned)(out[1] - '0');
	CHECK(sl_rules_provinces[info.province].code == code || (code == 83 && info.province ==
		sl_rules_province_by_code(71) - sl_rules_provinces));
}

static void test_id_number(void)
{
	/* GB 11643-1999's own examples. */
	id("11010519491231002X", "11010519491231002X", "ok", "1949-12-31", 'F');
	id("440524188001010014", "440524188001010014", "ok", "1880-01-01", 'M');
	id("11010519491231002x", "11010519491231002X", "ok", "1949-12-31", 'F');
	id(" 110105 19491231 002x ", "11010519491231002X", "ok", "1949-12-31", 'F');
	id("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", "ok", "1949-12-31", 'F');
	id("44030519900101123X", "44030519900101123X", "ok", "1990-01-01", 'M');
	id("320102198002291235", "320102198002291235", "ok", "1980-02-29", 'M');
	id("810000199001011230", "810000199001011230", "ok", "1990-01-01", 'M');
	id("830000199001011234", "830000199001011234", "ok", "1990-01-01", 'M');
	id("710000199001011237", "710000199001011237", "ok", "1990-01-01", 'M');
	/* 15-digit legacy numbers: 19 before the YYMMDD, check character computed. */
	id("110105491231002", "11010519491231002X", "converted_15", "1949-12-31", 'F');
	id("440524800101001", "440524198001010013", "converted_15", "1980-01-01", 'M');
	id("130503670401001", "130503196704010016", "converted_15", "1967-04-01", 'M');
	id("990105491231002", "990105491231002", "bad_region", NULL, 0);
	id("110105490230002", "110105490230002", "bad_birth_date", NULL, 0);
	id("11010549123100A", "11010549123100A", "bad_char", NULL, 0);
	/* Invalid 18-digit numbers (all but the check-digit case have a right check). */
	id("110105194912310021", "110105194912310021", "bad_check_digit", NULL, 0);
	id("11010519491231002Y", "11010519491231002Y", "bad_char", NULL, 0);
	id("1101051949123100X2", "1101051949123100X2", "bad_char", NULL, 0);
	id("110105194902300020", "110105194902300020", "bad_birth_date", NULL, 0);
	id("320102198102291232", "320102198102291232", "bad_birth_date", NULL, 0);
	id("110105209901010012", "110105209901010012", "bad_birth_date", NULL, 0);
	id("110105179912310024", "110105179912310024", "bad_birth_date", NULL, 0);
	id("990105194912310023", "990105194912310023", "bad_region", NULL, 0);
	id("100105194912310028", "100105194912310028", "bad_region", NULL, 0);
	id("1101051949123100", "1101051949123100", "bad_length", NULL, 0);
	id("11010519491231002X1", "11010519491231002X1", "bad_length", NULL, 0);
	id("", "", "empty", NULL, 0);
	id(" \t　", "", "empty", NULL, 0);
	id("11010519491231\xff" "02X", "11010519491231\xff" "02X", "bad_char", NULL, 0);

	/* Not in the future: born today is fine, tomorrow is not. */
	struct sl_rules_id_info info;
	int64_t born;
	REQUIRE(sl_rules_date_days(1949, 12, 31, &born));
	CHECK(sl_rules_id_number("11010519491231002X", 18, out, born, &info).valid);
	CHECK_EQ_I(sl_rules_id_number("11010519491231002X", 18, out, born - 1, &info).reason,
		   SL_REASON_BAD_BIRTH_DATE);
	CHECK_EQ_I(sl_rules_id_check_char("11010519491231002"), 'X');
	CHECK_EQ_I(sl_rules_id_check_char("44052418800101001"), '4');
	CHECK_EQ_I(sl_rules_id_check_char("4405241880010100a"), 0);
}

static void address(const char *in, const char *value, const char *reason, const char *province,
		    const char *city, const char *district)
{
	struct sl_rules_address_info info, info2;
	struct sl_rules_result r = sl_rules_address(in, strlen(in), out, &info);
	struct sl_rules_result r2 = sl_rules_address(out, r.len, again, &info2);
	expect("address", in, r, &r2,
	       &(struct want){value, reason, strcmp(reason, "ok") == 0});
	const char *p = info.province >= 0 ? sl_rules_provinces[info.province].name : "";
	CHECKF(strcmp(p, province) == 0, "address(\"%s\") province \"%s\", want \"%s\"", in, p,
	       province);
	CHECKF(info.city_len == strlen(city) &&
		   memcmp(out + info.city_off, city, info.city_len) == 0,
	       "address(\"%s\") city \"%.*s\", want \"%s\"", in, (int)info.city_len,
	       out + info.city_off, city);
	CHECKF(info.district_len == strlen(district) &&
		       memcmp(out + info.district_off, district, info.district_len) == 0,
	       "address(\"%s\") district \"%.*s\", want \"%s\"", in, (int)info.district_len,
	       out + info.district_off, district);
	CHECK(info2.province == info.province && info2.city_off == info.city_off &&
	      info2.city_len == info.city_len && info2.district_off == info.district_off &&
	      info2.district_len == info.district_len);
}

static void test_address(void)
{
	address("广东省深圳市南山区科技园路1号", "广东省深圳市南山区科技园路1号", "ok", "广东省",
		"深圳市", "南山区");
	address("广东深圳市南山区科技园路1号", "广东省深圳市南山区科技园路1号", "ok", "广东省",
		"深圳市", "南山区");
	address("广东省深圳市南山区科技园路１２３号（Ａ座）",
		"广东省深圳市南山区科技园路123号(A座)", "ok", "广东省", "深圳市", "南山区");
	address("  广东省　深圳市  南山区\t科技园路 ", "广东省 深圳市 南山区 科技园路", "ok",
		"广东省", "深圳市", "南山区");
	address("北京市海淀区中关村大街27号", "北京市海淀区中关村大街27号", "ok", "北京市",
		"北京市", "海淀区");
	address("北京海淀区中关村大街27号", "北京市海淀区中关村大街27号", "ok", "北京市", "北京市",
		"海淀区");
	address("上海浦东新区世纪大道100号", "上海市浦东新区世纪大道100号", "ok", "上海市",
		"上海市", "浦东新区");
	address("重庆市沙坪坝区", "重庆市沙坪坝区", "ok", "重庆市", "重庆市", "沙坪坝区");
	address("天津和平区", "天津市和平区", "ok", "天津市", "天津市", "和平区");
	address("内蒙古呼和浩特市新城区", "内蒙古自治区呼和浩特市新城区", "ok", "内蒙古自治区",
		"呼和浩特市", "新城区");
	address("内蒙古自治区锡林郭勒盟锡林浩特市", "内蒙古自治区锡林郭勒盟锡林浩特市", "ok",
		"内蒙古自治区", "锡林郭勒盟", "锡林浩特市");
	address("广西南宁市青秀区", "广西壮族自治区南宁市青秀区", "ok", "广西壮族自治区", "南宁市",
		"青秀区");
	address("广西自治区南宁市", "广西壮族自治区南宁市", "ok", "广西壮族自治区", "南宁市", "");
	address("新疆乌鲁木齐市沙依巴克区", "新疆维吾尔自治区乌鲁木齐市沙依巴克区", "ok",
		"新疆维吾尔自治区", "乌鲁木齐市", "沙依巴克区");
	address("新疆阿克苏地区阿克苏市", "新疆维吾尔自治区阿克苏地区阿克苏市", "ok",
		"新疆维吾尔自治区", "阿克苏地区", "阿克苏市");
	address("宁夏银川市兴庆区", "宁夏回族自治区银川市兴庆区", "ok", "宁夏回族自治区", "银川市",
		"兴庆区");
	address("西藏拉萨市城关区", "西藏自治区拉萨市城关区", "ok", "西藏自治区", "拉萨市",
		"城关区");
	address("黑龙江哈尔滨市道里区", "黑龙江省哈尔滨市道里区", "ok", "黑龙江省", "哈尔滨市",
		"道里区");
	address("吉林省延边朝鲜族自治州延吉市", "吉林省延边朝鲜族自治州延吉市", "ok", "吉林省",
		"延边朝鲜族自治州", "延吉市");
	address("吉林市船营区", "吉林省吉林市船营区", "ok", "吉林省", "吉林市", "船营区");
	address("江苏省苏州市昆山市前进路1号", "江苏省苏州市昆山市前进路1号", "ok", "江苏省",
		"苏州市", "昆山市");
	address("广东省南山区科技园路", "广东省南山区科技园路", "ok", "广东省", "", "南山区");
	address("广东省科技园路1号", "广东省科技园路1号", "ok", "广东省", "", "");
	address("香港特别行政区九龙城区", "香港特别行政区九龙城区", "ok", "香港特别行政区", "",
		"九龙城区");
	address("香港九龙城区", "香港特别行政区九龙城区", "ok", "香港特别行政区", "", "九龙城区");
	address("澳门氹仔", "澳门特别行政区氹仔", "ok", "澳门特别行政区", "", "");
	address("台湾台北市", "台湾省台北市", "ok", "台湾省", "台北市", "");
	address("广东", "广东省", "ok", "广东省", "", "");
	/* No province: district-first addresses and the archive's garbage. */
	address("海淀区科技园路1号", "海淀区科技园路1号", "no_province", "", "", "");
	address("???", "???", "no_province", "", "", "");
	address("不详", "不详", "no_province", "", "", "");
	address("N/A", "N/A", "no_province", "", "", "");
	address("-", "-", "no_province", "", "", "");
	address("中国广东省", "中国广东省", "no_province", "", "", "");
	address("地址:\"待补充\"\t\\", "地址:\"待补充\" \\", "no_province", "", "", "");
	address("", "", "empty", "", "", "");
	address(" 　\t", "", "empty", "", "", "");
	address("广东省\xff", "广东省\xff", "bad_char", "", "", "");
	address("广东省\x01", "广东省\x01", "bad_char", "", "", "");
}

static void name(const char *in, const char *value, const char *reason)
{
	struct sl_rules_result r = sl_rules_name(in, strlen(in), out);
	struct sl_rules_result r2 = sl_rules_name(out, r.len, again);
	expect("name", in, r, &r2, &(struct want){value, reason, strcmp(reason, "ok") == 0});
}

static void test_name(void)
{
	name("张三", "张三", "ok");
	name("  张  三 ", "张 三", "ok");
	name("欧阳　娜娜", "欧阳 娜娜", "ok");
	name("Ｊｏｈｎ　Ｓｍｉｔｈ", "John Smith", "ok");
	name("阿卜杜拉·买买提", "阿卜杜拉·买买提", "ok");
	name("", "", "empty");
	name(" \t　 ", "", "empty");
	name("张三1", "张三1", "bad_char");
	name("张三１", "张三1", "bad_char");
	name("张\x01三", "张\x01三", "bad_char");
	name("\xe5\xbc", "\xe5\xbc", "bad_char");
	char long_name[SL_RULES_NAME_MAX_BYTES + 4];
	for (size_t i = 0; i + 3 <= sizeof(long_name) - 1; i += 3)
		memcpy(long_name + i, "张", 3);
	long_name[(sizeof(long_name) - 1) / 3 * 3] = 0;
	name(long_name, long_name, "bad_length");
	long_name[SL_RULES_NAME_MAX_BYTES] = 0;
	name(long_name, long_name, "ok");
}

static void test_clean_and_limits(void)
{
	bool bad;
	const char *in = "\t Ａ　Ｂ\t\tC  ～！ ";
	size_t n = sl_rules_clean_text(in, strlen(in), out, &bad);
	CHECKF(n == 8 && memcmp(out, "A B C ~!", 8) == 0 && !bad, "clean: \"%.*s\"", (int)n, out);
	n = sl_rules_clean_text("\xc2\xa0x\xc2\xa0\xc2\xa0y", 8, out, &bad);
	CHECK(n == 3 && memcmp(out, "x y", 3) == 0 && !bad);
	n = sl_rules_clean_text("\xed\xa0\x80", 3, out, &bad); /* a surrogate */
	CHECK(n == 3 && bad);
	CHECK(sl_rules_is_blank(" \t　\xc2\xa0", strlen(" \t　\xc2\xa0")));
	CHECK(sl_rules_is_blank("", 0));
	CHECK(!sl_rules_is_blank(" x ", 3));

	/* Too long: unchanged, bad_length, for every rule. */
	static char big[SL_RULES_IN_MAX_BYTES + 1];
	memset(big, '1', sizeof(big));
	enum sl_phone_type t;
	struct sl_rules_address_info ai;
	struct sl_rules_result r = sl_rules_phone(big, sizeof(big), out, &t);
	CHECK(r.reason == SL_REASON_BAD_LENGTH && r.len == sizeof(big) && !memcmp(out, big, r.len));
	r = sl_rules_id_number(big, sizeof(big), out, today, NULL);
	CHECK(r.reason == SL_REASON_BAD_LENGTH && r.len == sizeof(big));
	r = sl_rules_address(big, sizeof(big), out, &ai);
	CHECK(r.reason == SL_REASON_BAD_LENGTH && r.len == sizeof(big));
	r = sl_rules_name(big, sizeof(big), out);
	CHECK(r.reason == SL_REASON_BAD_LENGTH && r.len == sizeof(big));
	/* An address that would outgrow the limit once its province is spelt out. */
	memcpy(big, "新疆", 6);
	r = sl_rules_address(big, SL_RULES_IN_MAX_BYTES - 4, out, &ai);
	CHECK(r.reason == SL_REASON_BAD_LENGTH && r.len == SL_RULES_IN_MAX_BYTES - 4);

	for (int i = 0; i < SL_REASON__COUNT; i++) {
		const char *s = sl_rules_reason_name(i);
		CHECK_EQ_I(sl_rules_reason_parse(s, strlen(s)), i);
	}
	CHECK_EQ_I(sl_rules_reason_parse("nope", 4), -1);
}

static void test_provinces(void)
{
	bool seen[100] = {false};
	for (unsigned i = 0; i < SL_RULES_N_PROVINCES; i++) {
		const struct sl_rules_province *p = &sl_rules_provinces[i];
		CHECKF(p->code >= 11 && p->code <= 82 && !seen[p->code], "code %u", p->code);
		seen[p->code] = true;
		CHECK(sl_rules_province_by_code(p->code) == p);
		const char *spell[3] = {p->name, p->short_name, p->variant};
		for (int k = 0; k < 3; k++) {
			if (!spell[k])
				continue;
			size_t m = 0;
			CHECKF(sl_rules_province_match(spell[k], strlen(spell[k]), &m) == p &&
				       m == strlen(spell[k]),
			       "match(%s)", spell[k]);
			CHECKF(strlen(p->name) - strlen(spell[k]) + 3 <= SL_RULES_GROWTH_BYTES,
			       "growth of %s", spell[k]);
		}
	}
	unsigned municipalities = 0, sars = 0;
	for (unsigned i = 0; i < SL_RULES_N_PROVINCES; i++) {
		municipalities += sl_rules_provinces[i].municipality;
		sars += strstr(sl_rules_provinces[i].name, "特别行政区") != NULL;
	}
	CHECK_EQ_U(municipalities, 4);
	CHECK_EQ_U(sars, 2);
	CHECK(sl_rules_province_by_code(83) == sl_rules_province_by_code(71));
	CHECK(sl_rules_province_by_code(10) == NULL && sl_rules_province_by_code(99) == NULL &&
	      sl_rules_province_by_code(1000) == NULL);
	size_t m;
	CHECK(sl_rules_province_match("广", 3, &m) == NULL);
	CHECK(sl_rules_province_match("", 0, &m) == NULL);
}

int main(void)
{
	today = sl_days_from_civil(2026, 1, 1);
	test_phone();
	test_id_number();
	test_address();
	test_name();
	test_clean_and_limits();
	test_provinces();
	return check_exit("test_rules");
}
