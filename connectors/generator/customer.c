/* The customer-cdc generator: realistic Chinese customer rows built from static tables
 * with a counter-based hash, per-split changelog state, and the Debezium JSON writer. */
#include <stdlib.h>
#include <string.h>

#include "connectors/generator/customer.h"

/* ---- Hashing and random numbers ------------------------------------------------------- */

#define GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: a bijection with good avalanche, used as a counter hash. */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* wyrand: the split's own stream (key and op choice). */
static inline uint64_t wyrand(uint64_t *state)
{
	*state += 0xa0761d6478bd642full;
	__uint128_t t = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/*
 * A value in [0, n) from the high half of r * n; the low half becomes the new r, so
 * one 64-bit draw yields several small choices (about 64 - log2(n) bits remain).
 */
static inline uint32_t pick(uint64_t *r, uint32_t n)
{
	__uint128_t t = (__uint128_t)*r * n;
	*r = (uint64_t)t;
	return (uint32_t)(t >> 64);
}

/* ---- Static tables ---------------------------------------------------------------------- */

/*
 * Strings are copied with fixed-size memcpy from padded slots (then the cursor
 * advances by the real length): a variable-length memcpy costs more than the
 * whole rest of an image. Destinations leave room for the over-copy.
 */

/* Single-character surnames, three UTF-8 bytes each: the 20 most common first. */
static const char surnames_top[] = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗";
static const char surnames_more[] = "郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
				    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
				    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
/* Two-character surnames, six bytes each. */
static const char surnames_compound[] = "欧阳司马诸葛上官东方皇甫令狐慕容";
static const char given_chars[] = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国"
				  "志红梅林鹏飞宇浩晨欣怡婷雪琳思佳子轩涵博俊晓海燕波斌宁鑫亮云"
				  "峰凤东春丹萍颖倩琴彬亚光庆兵荣新慧帅凯龙玲健宏瑞雨阳嘉豪泽然"
				  "梓睿诗雅晴媛晶璐莉娇楠蕾薇馨悦淑婉琪珊娅妍茜岚菲";
static_assert((sizeof(surnames_top) - 1) % 3 == 0, "3-byte characters");
static_assert((sizeof(surnames_more) - 1) % 3 == 0, "3-byte characters");
static_assert((sizeof(surnames_compound) - 1) % 6 == 0, "two 3-byte characters");
static_assert((sizeof(given_chars) - 1) % 3 == 0, "3-byte characters");
#define N_SURNAMES_TOP ((uint32_t)(sizeof(surnames_top) - 1) / 3)
#define N_SURNAMES_MORE ((uint32_t)(sizeof(surnames_more) - 1) / 3)
#define N_SURNAMES_COMPOUND ((uint32_t)(sizeof(surnames_compound) - 1) / 6)
#define N_GIVEN ((uint32_t)(sizeof(given_chars) - 1) / 3)

/* Mobile prefixes in use (China Mobile, Unicom, Telecom, virtual operators). */
static const char phone_prefixes[] = "130131132133134135136137138139"
				     "150151152153155156157158159"
				     "170171173175176177178"
				     "180181182183184185186187188189"
				     "191193195196197198199";
static_assert((sizeof(phone_prefixes) - 1) % 3 == 0, "3-digit prefixes");
#define N_PHONE_PREFIXES ((uint32_t)(sizeof(phone_prefixes) - 1) / 3)

/* "Province city district" and its administrative code (the ID number's first
 * six digits). Municipalities have no city level: "北京市海淀区…". */
#define DISTRICT_SLOT 64
struct district {
	char prefix[DISTRICT_SLOT];
	uint8_t len;
	uint8_t district_at; /* bytes of province + city */
	uint32_t code;
};
/* clang-format off */
#define D(p, c, d, code) {p c d, (uint8_t)(sizeof(p c d) - 1), (uint8_t)(sizeof(p c) - 1), code}
static const struct district districts[] = {
	D("北京市", "", "东城区", 110101),
	D("北京市", "", "西城区", 110102),
	D("北京市", "", "朝阳区", 110105),
	D("北京市", "", "丰台区", 110106),
	D("北京市", "", "海淀区", 110108),
	D("天津市", "", "和平区", 120101),
	D("天津市", "", "河西区", 120103),
	D("天津市", "", "南开区", 120104),
	D("上海市", "", "黄浦区", 310101),
	D("上海市", "", "徐汇区", 310104),
	D("上海市", "", "长宁区", 310105),
	D("上海市", "", "静安区", 310106),
	D("上海市", "", "浦东新区", 310115),
	D("重庆市", "", "渝中区", 500103),
	D("重庆市", "", "江北区", 500105),
	D("重庆市", "", "沙坪坝区", 500106),
	D("重庆市", "", "九龙坡区", 500107),
	D("河北省", "石家庄市", "长安区", 130102),
	D("河北省", "石家庄市", "桥西区", 130104),
	D("河北省", "石家庄市", "新华区", 130105),
	D("山西省", "太原市", "小店区", 140105),
	D("山西省", "太原市", "迎泽区", 140106),
	D("山西省", "太原市", "杏花岭区", 140107),
	D("内蒙古自治区", "呼和浩特市", "新城区", 150102),
	D("内蒙古自治区", "呼和浩特市", "回民区", 150103),
	D("辽宁省", "沈阳市", "和平区", 210102),
	D("辽宁省", "沈阳市", "沈河区", 210103),
	D("辽宁省", "沈阳市", "皇姑区", 210105),
	D("辽宁省", "大连市", "中山区", 210202),
	D("辽宁省", "大连市", "西岗区", 210203),
	D("辽宁省", "大连市", "沙河口区", 210204),
	D("吉林省", "长春市", "南关区", 220102),
	D("吉林省", "长春市", "宽城区", 220103),
	D("吉林省", "长春市", "朝阳区", 220104),
	D("黑龙江省", "哈尔滨市", "道里区", 230102),
	D("黑龙江省", "哈尔滨市", "南岗区", 230103),
	D("黑龙江省", "哈尔滨市", "道外区", 230104),
	D("江苏省", "南京市", "玄武区", 320102),
	D("江苏省", "南京市", "秦淮区", 320104),
	D("江苏省", "南京市", "建邺区", 320105),
	D("江苏省", "南京市", "鼓楼区", 320106),
	D("江苏省", "苏州市", "虎丘区", 320505),
	D("江苏省", "苏州市", "吴中区", 320506),
	D("江苏省", "苏州市", "相城区", 320507),
	D("江苏省", "苏州市", "姑苏区", 320508),
	D("浙江省", "杭州市", "上城区", 330102),
	D("浙江省", "杭州市", "拱墅区", 330105),
	D("浙江省", "杭州市", "西湖区", 330106),
	D("浙江省", "杭州市", "滨江区", 330108),
	D("浙江省", "杭州市", "余杭区", 330110),
	D("浙江省", "宁波市", "海曙区", 330203),
	D("浙江省", "宁波市", "江北区", 330205),
	D("浙江省", "宁波市", "鄞州区", 330212),
	D("安徽省", "合肥市", "瑶海区", 340102),
	D("安徽省", "合肥市", "庐阳区", 340103),
	D("安徽省", "合肥市", "蜀山区", 340104),
	D("安徽省", "合肥市", "包河区", 340111),
	D("福建省", "福州市", "鼓楼区", 350102),
	D("福建省", "福州市", "台江区", 350103),
	D("福建省", "福州市", "仓山区", 350104),
	D("福建省", "厦门市", "思明区", 350203),
	D("福建省", "厦门市", "湖里区", 350206),
	D("江西省", "南昌市", "东湖区", 360102),
	D("江西省", "南昌市", "西湖区", 360103),
	D("江西省", "南昌市", "青云谱区", 360104),
	D("山东省", "济南市", "历下区", 370102),
	D("山东省", "济南市", "市中区", 370103),
	D("山东省", "济南市", "槐荫区", 370104),
	D("山东省", "青岛市", "市南区", 370202),
	D("山东省", "青岛市", "市北区", 370203),
	D("山东省", "青岛市", "崂山区", 370212),
	D("河南省", "郑州市", "中原区", 410102),
	D("河南省", "郑州市", "二七区", 410103),
	D("河南省", "郑州市", "金水区", 410105),
	D("湖北省", "武汉市", "江岸区", 420102),
	D("湖北省", "武汉市", "江汉区", 420103),
	D("湖北省", "武汉市", "武昌区", 420106),
	D("湖北省", "武汉市", "洪山区", 420111),
	D("湖南省", "长沙市", "芙蓉区", 430102),
	D("湖南省", "长沙市", "天心区", 430103),
	D("湖南省", "长沙市", "岳麓区", 430104),
	D("湖南省", "长沙市", "开福区", 430105),
	D("广东省", "广州市", "越秀区", 440104),
	D("广东省", "广州市", "海珠区", 440105),
	D("广东省", "广州市", "天河区", 440106),
	D("广东省", "广州市", "白云区", 440111),
	D("广东省", "深圳市", "罗湖区", 440303),
	D("广东省", "深圳市", "福田区", 440304),
	D("广东省", "深圳市", "南山区", 440305),
	D("广东省", "深圳市", "宝安区", 440306),
	D("广东省", "深圳市", "龙岗区", 440307),
	D("广东省", "佛山市", "禅城区", 440604),
	D("广东省", "佛山市", "南海区", 440605),
	D("广东省", "佛山市", "顺德区", 440606),
	D("广西壮族自治区", "南宁市", "兴宁区", 450102),
	D("广西壮族自治区", "南宁市", "青秀区", 450103),
	D("广西壮族自治区", "南宁市", "江南区", 450105),
	D("海南省", "海口市", "秀英区", 460105),
	D("海南省", "海口市", "龙华区", 460106),
	D("海南省", "海口市", "美兰区", 460108),
	D("四川省", "成都市", "锦江区", 510104),
	D("四川省", "成都市", "青羊区", 510105),
	D("四川省", "成都市", "金牛区", 510106),
	D("四川省", "成都市", "武侯区", 510107),
	D("四川省", "成都市", "成华区", 510108),
	D("贵州省", "贵阳市", "南明区", 520102),
	D("贵州省", "贵阳市", "云岩区", 520103),
	D("云南省", "昆明市", "五华区", 530102),
	D("云南省", "昆明市", "盘龙区", 530103),
	D("云南省", "昆明市", "官渡区", 530111),
	D("陕西省", "西安市", "新城区", 610102),
	D("陕西省", "西安市", "碑林区", 610103),
	D("陕西省", "西安市", "莲湖区", 610104),
	D("陕西省", "西安市", "雁塔区", 610113),
	D("甘肃省", "兰州市", "城关区", 620102),
	D("甘肃省", "兰州市", "七里河区", 620103),
	D("新疆维吾尔自治区", "乌鲁木齐市", "天山区", 650102),
	D("新疆维吾尔自治区", "乌鲁木齐市", "沙依巴克区", 650103),
};
/* clang-format on */
#define N_DISTRICTS ((uint32_t)SL_ARRAY_LEN(districts))

#define ROAD_SLOT 16
struct road {
	char s[ROAD_SLOT];
	uint8_t len;
};
#define R(x)                                                                                       \
	{                                                                                          \
		x, (uint8_t)(sizeof(x) - 1)                                                        \
	}
/* clang-format off */
static const struct road roads[] = {
	R("科技园路"), R("人民路"),   R("解放路"), R("中山路"),   R("建设路"),   R("和平路"),
	R("新华路"),   R("长江路"),   R("黄河路"), R("胜利路"),   R("文化路"),   R("朝阳路"),
	R("学院路"),   R("光明路"),   R("滨江路"), R("东风路"),   R("青年路"),   R("幸福路"),
	R("迎宾路"),   R("花园路"),   R("工业路"), R("北京路"),   R("南京路"),   R("延安路"),
	R("红旗路"),   R("团结路"),   R("振兴路"), R("育才路"),   R("体育路"),   R("健康路"),
	R("公园路"),   R("湖滨路"),   R("金融街"), R("中关村大街"), R("世纪大道"), R("高新大道"),
	R("南湖大道"), R("滨海大道"), R("东大街"), R("西大街"),   R("五一路"),   R("八一路"),
	R("环城北路"), R("环城南路"), R("太平街"), R("凤凰路"),   R("桃源路"),   R("锦绣路"),
};
/* clang-format on */
#define N_ROADS ((uint32_t)SL_ARRAY_LEN(roads))

struct str {
	const char *s;
	uint8_t len;
};
#define S(x)                                                                                       \
	{                                                                                          \
		x, (uint8_t)(sizeof(x) - 1)                                                        \
	}
/* Garbage addresses a legacy archive really holds; one exercises JSON escaping. */
static const struct str garbage_addresses[] = {
    S("???"), S("不详"), S("N/A"), S("-"), S("地址:\"待补充\"\t\\"),
};
#define N_GARBAGE ((uint32_t)SL_ARRAY_LEN(garbage_addresses))

static const char id_check_chars[] = "10X98765432";
static const uint8_t id_weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* ---- Small writers ------------------------------------------------------------------------ */

static inline char *put_mem(char *p, const void *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LIT(p, lit) ((p) = put_mem((p), (lit), sizeof(lit) - 1))

static inline char *put_2(char *p, uint32_t v)
{
	SL_DASSERT(v < 100);
	memcpy(p, digit_pairs + 2 * v, 2);
	return p + 2;
}

/* 1..999 without leading zeros. */
static inline char *put_small(char *p, uint32_t v)
{
	SL_DASSERT(v >= 1 && v < 1000);
	if (v >= 100) {
		*p++ = (char)('0' + v / 100);
		return put_2(p, v % 100);
	}
	if (v >= 10)
		return put_2(p, v);
	*p = (char)('0' + v);
	return p + 1;
}

static inline uint32_t n_digits(uint64_t v)
{
	uint32_t n = 1;
	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Decimal without leading zeros, written in place from the right. */
static inline char *put_u64(char *p, uint64_t v)
{
	uint32_t n = n_digits(v);
	char *t = p + n;
	while (v >= 100) {
		t -= 2;
		memcpy(t, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(t - 2, digit_pairs + 2 * v, 2);
	else
		t[-1] = (char)('0' + v);
	return p + n;
}

static inline char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

static inline bool is_leap(uint32_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline uint32_t days_in_month(uint32_t y, uint32_t m)
{
	static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* ---- Validation -------------------------------------------------------------------------- */

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ISO 7064 MOD 11-2 over 17 digits, unchecked: branch-free so it unrolls. */
static inline char id_check_char_unchecked(const char *first17)
{
	uint32_t sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (uint32_t)(first17[i] - '0') * id_weights[i];
	return id_check_chars[sum % 11];
}

char sl_id_number_check_char(const char *first17)
{
	for (int i = 0; i < 17; i++)
		if (!is_digit(first17[i]))
			return 0;
	return id_check_char_unchecked(first17);
}

bool sl_id_number_valid(const char *s, size_t len)
{
	if (len != 18)
		return false;
	char check = sl_id_number_check_char(s);
	if (check == 0)
		return false;
	char last = s[17] == 'x' ? 'X' : s[17];
	if (last != check)
		return false;
	uint32_t year = 0, month = 0, day = 0;
	for (int i = 6; i < 10; i++)
		year = year * 10 + (uint32_t)(s[i] - '0');
	month = (uint32_t)(s[10] - '0') * 10 + (uint32_t)(s[11] - '0');
	day = (uint32_t)(s[12] - '0') * 10 + (uint32_t)(s[13] - '0');
	return year >= 1800 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 &&
	       day <= days_in_month(year, month);
}

bool sl_phone_valid(const char *s, size_t len)
{
	if (len != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9')
		return false;
	for (size_t i = 2; i < 11; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* ---- Images ------------------------------------------------------------------------------ */

/* What every image needs besides (k, v): the seed's hash and the bad threshold. */
struct image_params {
	uint64_t seed_hash;
	uint64_t bad_below; /* image is bad iff its 53-bit draw < bad_below; 2^53 = all */
	uint32_t fields;    /* SL_CUSTOMER_F_*: the fields to build */
};

enum bad_kind { BAD_NAME_EMPTY, BAD_PHONE_LENGTH, BAD_ID_CHECK, BAD_ADDRESS, BAD_NULL, BAD_KINDS };

static_assert(sizeof(((struct sl_customer_row *)0)->address) >= 2 * DISTRICT_SLOT + ROAD_SLOT + 32,
	      "address holds prefix, road and numbers with the over-copies");

/*
 * Fills every column of `row` except updated_time_ms with the image of key k at
 * version v: a pure function of (seed, k, v mod 2^31).
 *
 * A customer is an account: each update changes one thing, on a per-key
 * schedule with period 8 (phase from the key's hash), so consecutive images
 * differ like real changes do and each field is a function of its own epoch:
 *   w % 8 in {0,2,4,6}: new phone            (50 %)
 *   w % 8 in {1,3,5}:   address corrected    (37.5 %, same district)
 *   w % 8 == 7:         ownership transfer   (12.5 %: name, ID, district)
 * where w = v + phase. The ID's region code is the address's district.
 * Independently, a share bad_ratio of images gets one bad value.
 */
static void make_image(const struct image_params *ip, int64_t k, uint32_t v,
		       struct sl_customer_row *row)
{
	uint64_t kh = mix64(ip->seed_hash ^ ((uint64_t)k * GOLDEN));
	uint64_t w = (uint64_t)(v & 0x7fffffffu) + (kh & 7);
	uint64_t e_owner = (w + 1) / 8;
	uint64_t e_addr = 3 * (w / 8) + (w % 8 >= 1) + (w % 8 >= 3) + (w % 8 >= 5);
	uint64_t e_phone = w / 2;
	uint64_t r_name = mix64((kh ^ 0x6f776e6572ull) + e_owner * GOLDEN);
	uint64_t r_id = mix64(r_name);
	uint64_t r_addr = mix64((kh ^ 0x61646472ull) + ((e_owner << 32) ^ e_addr) * GOLDEN);
	uint64_t r_phone = mix64((kh ^ 0x70686f6e65ull) + e_phone * GOLDEN);
	uint64_t r_bad = mix64((kh ^ 0x626164ull) + (v & 0x7fffffffu) * GOLDEN);

	row->customer_id = k;
	row->name_null = row->address_null = row->phone_null = row->id_number_null = false;
	const uint32_t f = ip->fields;
	/* Every field draws from its own stream, so skipping one changes no other. */
	char *p;
	if (!(f & SL_CUSTOMER_F_NAME)) {
		row->name[0] = 0;
		row->name_len = 0;
		goto address;
	}

	/* Name: surname (rarely two characters) + one or two given characters. */
	p = row->name;
	uint32_t u = pick(&r_name, 1000);
	if (u < 15) {
		memcpy(p, surnames_compound + 6 * pick(&r_name, N_SURNAMES_COMPOUND), 6);
		p += 6;
	} else {
		const char *tab = u < 600 ? surnames_top : surnames_more;
		uint32_t n = u < 600 ? N_SURNAMES_TOP : N_SURNAMES_MORE;
		memcpy(p, tab + 3 * pick(&r_name, n), 3);
		p += 3;
	}
	memcpy(p, given_chars + 3 * pick(&r_name, N_GIVEN), 3);
	p += 3;
	if (pick(&r_name, 10) >= 3) {
		memcpy(p, given_chars + 3 * pick(&r_name, N_GIVEN), 3);
		p += 3;
	}
	*p = 0;
	row->name_len = (uint32_t)(p - row->name);

address:;
	/* Address: province city district road 号 栋 单元 室. */
	const struct district *d = &districts[pick(&r_id, N_DISTRICTS)];
	if (!(f & SL_CUSTOMER_F_ADDRESS)) {
		row->address[0] = 0;
		row->address_len = 0;
		goto phone;
	}
	p = row->address;
	memcpy(p, d->prefix, DISTRICT_SLOT);
	p += d->len;
	const struct road *road = &roads[pick(&r_addr, N_ROADS)];
	memcpy(p, road->s, ROAD_SLOT);
	p += road->len;
	p = put_small(p, 1 + pick(&r_addr, 299));
	PUT_LIT(p, "号");
	p = put_small(p, 1 + pick(&r_addr, 30));
	PUT_LIT(p, "栋");
	p = put_small(p, 1 + pick(&r_addr, 6));
	PUT_LIT(p, "单元");
	p = put_small(p, 1 + pick(&r_addr, 32));
	p = put_2(p, 1 + pick(&r_addr, 4));
	PUT_LIT(p, "室");
	*p = 0;
	row->address_len = (uint32_t)(p - row->address);
	SL_DASSERT(row->address_len < sizeof(row->address));

phone:
	if (!(f & SL_CUSTOMER_F_PHONE)) {
		row->phone[0] = 0;
		row->phone_len = 0;
		goto id_number;
	}
	/* Phone: real prefix + 8 digits. */
	p = row->phone;
	memcpy(p, phone_prefixes + 3 * pick(&r_phone, N_PHONE_PREFIXES), 3);
	p += 3;
	uint32_t rest = pick(&r_phone, 100000000);
	p = put_2(p, rest / 1000000);
	p = put_2(p, rest / 10000 % 100);
	p = put_2(p, rest / 100 % 100);
	p = put_2(p, rest % 100);
	*p = 0;
	row->phone_len = 11;

id_number:
	if (!(f & SL_CUSTOMER_F_ID_NUMBER)) {
		row->id_number[0] = 0;
		row->id_number_len = 0;
		goto bad;
	}
	/* ID number: the district's code, a birth date, a sequence, the check char. */
	uint32_t year = 1940 + pick(&r_id, 68);
	uint32_t month = 1 + pick(&r_id, 12);
	uint32_t day = 1 + pick(&r_id, days_in_month(year, month));
	uint32_t seq = 1 + pick(&r_id, 999);
	p = row->id_number;
	p = put_2(p, d->code / 10000);
	p = put_2(p, d->code / 100 % 100);
	p = put_2(p, d->code % 100);
	p = put_2(p, year / 100);
	p = put_2(p, year % 100);
	p = put_2(p, month);
	p = put_2(p, day);
	*p++ = (char)('0' + seq / 100);
	p = put_2(p, seq % 100);
	*p = id_check_char_unchecked(row->id_number);
	p[1] = 0;
	row->id_number_len = 18;

bad:
	if (SL_LIKELY((r_bad >> 11) >= ip->bad_below))
		return;

	/* One deliberately bad value (cold: at most bad_ratio of images). The draw's
	 * high bits decided that it is bad, so the choices need fresh bits. */
	r_bad = mix64(r_bad);
	switch (pick(&r_bad, BAD_KINDS)) {
	case BAD_NAME_EMPTY: /* harmless when the name was not built */
		row->name[0] = 0;
		row->name_len = 0;
		break;
	case BAD_PHONE_LENGTH:
		if (!(f & SL_CUSTOMER_F_PHONE))
			break;
		if (pick(&r_bad, 2) == 0) {
			row->phone_len = 10;
		} else {
			row->phone[11] = (char)('0' + pick(&r_bad, 10));
			row->phone_len = 12;
		}
		row->phone[row->phone_len] = 0;
		break;
	case BAD_ID_CHECK: {
		if (!(f & SL_CUSTOMER_F_ID_NUMBER))
			break;
		/* Any check char but the right one. */
		const char *at = strchr(id_check_chars, row->id_number[17]);
		SL_ASSERT(at != NULL);
		uint32_t i = (uint32_t)(at - id_check_chars);
		row->id_number[17] = id_check_chars[(i + 1 + pick(&r_bad, 10)) % 11];
		break;
	}
	case BAD_ADDRESS:
		if (!(f & SL_CUSTOMER_F_ADDRESS))
			break;
		if (pick(&r_bad, 2) == 0) {
			/* Drop province and city: the address starts at the district. */
			row->address_len -= d->district_at;
			memmove(row->address, row->address + d->district_at, row->address_len + 1);
		} else {
			struct str g = garbage_addresses[pick(&r_bad, N_GARBAGE)];
			memcpy(row->address, g.s, g.len);
			row->address[g.len] = 0;
			row->address_len = g.len;
		}
		break;
	case BAD_NULL:
		switch (pick(&r_bad, 4)) {
		case 0:
			row->name_null = true;
			row->name[0] = 0;
			row->name_len = 0;
			break;
		case 1:
			row->address_null = true;
			row->address[0] = 0;
			row->address_len = 0;
			break;
		case 2:
			row->phone_null = true;
			row->phone[0] = 0;
			row->phone_len = 0;
			break;
		default:
			row->id_number_null = true;
			row->id_number[0] = 0;
			row->id_number_len = 0;
			break;
		}
		break;
	}
}

/* ---- Splits ------------------------------------------------------------------------------ */

#define KEY_ALIVE 1u
/* A streaming event on a live key is a delete iff its draw is below this: 15 %. */
#define DELETE_BELOW ((uint64_t)(0.15 * 18446744073709551616.0))

/* Per key of a split: bit 0 alive, bits 1..31 images made so far (mod 2^31);
 * the split-local index of the key's last change, for the before-image's time. */
struct key_state {
	uint32_t alive_versions;
	uint32_t last_index;
};

struct sl_customer_split {
	struct image_params ip;
	uint64_t rng;
	uint64_t n_events;
	uint64_t index; /* of the next event */
	uint64_t n_keys;
	uint64_t n_snapshot;
	uint32_t split;
	uint32_t n_splits;
	struct key_state keys[];
};

void sl_customer_split_set_fields(struct sl_customer_split *s, uint32_t fields)
{
	s->ip.fields = fields & SL_CUSTOMER_F_ALL;
}

uint32_t sl_customer_n_splits(const struct sl_customer_params *p)
{
	return (uint32_t)SL_MIN(p->keys, (uint64_t)SL_CUSTOMER_MAX_SPLITS);
}

int sl_customer_split_init(struct sl_customer_split **out, const struct sl_customer_params *p,
			   uint32_t split)
{
	*out = NULL;
	uint32_t n_splits = sl_customer_n_splits(p);
	if (n_splits == 0 || split >= n_splits || !(p->bad_ratio >= 0.0 && p->bad_ratio <= 1.0))
		return -EINVAL;
	uint64_t n_events = p->records / n_splits + (split < p->records % n_splits);
	uint64_t n_keys = (p->keys - split - 1) / n_splits + 1;
	if (n_events > SL_CUSTOMER_SPLIT_MAX_EVENTS)
		return -EINVAL;
	if (n_keys > (SIZE_MAX - sizeof(struct sl_customer_split)) / sizeof(struct key_state))
		return -ENOMEM;
	/* calloc: the zero state (dead, no versions) comes from untouched zero pages. */
	struct sl_customer_split *s =
	    calloc(1, sizeof(*s) + (size_t)n_keys * sizeof(struct key_state));
	if (s == NULL)
		return -ENOMEM;
	s->ip.seed_hash = mix64(p->seed ^ 0x5c0ffee5eedull);
	s->ip.bad_below = (uint64_t)(p->bad_ratio * 9007199254740992.0); /* 2^53 */
	s->ip.fields = SL_CUSTOMER_F_ALL;
	s->rng = mix64(mix64(p->seed) + split + 1);
	s->n_events = n_events;
	s->n_keys = n_keys;
	s->n_snapshot = SL_MIN(n_keys, n_events / 4);
	SL_ASSERT(s->n_snapshot <= s->n_keys && s->n_snapshot <= s->n_events);
	s->split = split;
	s->n_splits = n_splits;
	*out = s;
	return 0;
}

void sl_customer_split_free(struct sl_customer_split *s)
{
	free(s);
}

uint64_t sl_customer_split_records(const struct sl_customer_split *s)
{
	return s->n_events;
}

static inline int64_t event_time(const struct sl_customer_split *s, uint64_t index)
{
	return SL_CUSTOMER_BASE_TIME_MS + (int64_t)index * SL_CUSTOMER_STEP_MS + s->split;
}

bool sl_customer_split_next(struct sl_customer_split *s, struct sl_customer_event *ev)
{
	if (s->index >= s->n_events)
		return false;
	uint64_t index = s->index++;
	int64_t ts = event_time(s, index);
	uint64_t j;
	uint64_t r = 0;
	if (index < s->n_snapshot) {
		j = index;
	} else {
		r = wyrand(&s->rng);
		__uint128_t t = (__uint128_t)r * s->n_keys;
		j = (uint64_t)(t >> 64);
		r = (uint64_t)t; /* what is left of the draw chooses u or d */
	}
	SL_ASSERT(j < s->n_keys);
	struct key_state *ks = &s->keys[j];
	int64_t k = (int64_t)(s->split + 1 + j * s->n_splits);
	uint32_t versions = ks->alive_versions >> 1;
	SL_DASSERT(index >= s->n_snapshot || versions == 0);

	ev->ts_ms = ts;
	if (!(ks->alive_versions & KEY_ALIVE)) {
		ev->op = index < s->n_snapshot ? 'r' : 'c';
		ev->has_before = false;
		ev->has_after = true;
		make_image(&s->ip, k, versions, &ev->after);
		ev->after.updated_time_ms = ts;
		ks->alive_versions = ((versions + 1) << 1) | KEY_ALIVE;
	} else {
		/* Alive, so an image was made (versions counts mod 2^31 and may wrap). */
		ev->has_before = true;
		make_image(&s->ip, k, versions - 1, &ev->before);
		ev->before.updated_time_ms = event_time(s, ks->last_index);
		if (r >= DELETE_BELOW) {
			ev->op = 'u';
			ev->has_after = true;
			make_image(&s->ip, k, versions, &ev->after);
			ev->after.updated_time_ms = ts;
			ks->alive_versions = ((versions + 1) << 1) | KEY_ALIVE;
		} else {
			ev->op = 'd';
			ev->has_after = false;
			ks->alive_versions = versions << 1;
		}
	}
	ks->last_index = (uint32_t)index;
	return true;
}

/* ---- Debezium JSON ---------------------------------------------------------------------- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "escape masks assume little endian");

/*
 * High bit set in each byte of x that needs escaping in a JSON string (< 0x20,
 * '"', '\\'). A borrow may also flag bytes above a flagged one, never below, so
 * masking off the high bytes past a string's end is exact.
 */
static inline uint64_t escape_mask(uint64_t x)
{
	uint64_t lt = (x - ONES * 0x20) & ~x;
	uint64_t q = x ^ (ONES * '"');
	uint64_t b = x ^ (ONES * '\\');
	return (lt | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
}

static char *put_escaped_slow(char *p, const char *s, uint32_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (uint32_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"':
			*p++ = '"';
			break;
		case '\\':
			*p++ = '\\';
			break;
		case '\b':
			*p++ = 'b';
			break;
		case '\f':
			*p++ = 'f';
			break;
		case '\n':
			*p++ = 'n';
			break;
		case '\r':
			*p++ = 'r';
			break;
		case '\t':
			*p++ = 't';
			break;
		default:
			p = put_mem(p, "u00", 3);
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
			break;
		}
	}
	return p;
}

/*
 * A JSON string value: "..." with escapes, or null. Copies 8 bytes at a time and
 * checks for escapes on the way: s must be readable up to len rounded up to 8
 * (row buffers are multiples of 8 and len < their size), and p writable as far.
 */
static inline char *put_json_string(char *p, const char *s, uint32_t len, bool is_null)
{
	if (is_null) {
		PUT_LIT(p, "null");
		return p;
	}
	*p++ = '"';
	uint64_t x, esc = 0;
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&x, s + i, 8);
		memcpy(p + i, &x, 8);
		esc |= escape_mask(x);
	}
	if (i < len) {
		memcpy(&x, s + i, 8);
		memcpy(p + i, &x, 8);
		esc |= escape_mask(x) & ((1ull << (8 * (len - i))) - 1);
	}
	if (SL_LIKELY(esc == 0))
		p += len;
	else
		p = put_escaped_slow(p, s, len);
	*p++ = '"';
	return p;
}

static char *put_image(char *p, const struct sl_customer_row *row)
{
	PUT_LIT(p, "{\"customer_id\":");
	p = put_i64(p, row->customer_id);
	PUT_LIT(p, ",\"name\":");
	p = put_json_string(p, row->name, row->name_len, row->name_null);
	PUT_LIT(p, ",\"address\":");
	p = put_json_string(p, row->address, row->address_len, row->address_null);
	PUT_LIT(p, ",\"phone\":");
	p = put_json_string(p, row->phone, row->phone_len, row->phone_null);
	PUT_LIT(p, ",\"id_number\":");
	p = put_json_string(p, row->id_number, row->id_number_len, row->id_number_null);
	PUT_LIT(p, ",\"updated_time\":");
	p = put_i64(p, row->updated_time_ms);
	*p++ = '}';
	return p;
}

/* Writes the line into buf, which holds SL_CUSTOMER_JSON_MAX_BYTES. */
static size_t write_debezium(const struct sl_customer_event *ev, char *buf)
{
	char *p = buf;
	PUT_LIT(p, "{\"before\":");
	if (ev->has_before)
		p = put_image(p, &ev->before);
	else
		PUT_LIT(p, "null");
	PUT_LIT(p, ",\"after\":");
	if (ev->has_after)
		p = put_image(p, &ev->after);
	else
		PUT_LIT(p, "null");
	PUT_LIT(p, ",\"source\":{\"version\":\"2.7.3.Final\",\"connector\":\"mysql\",\"name\":"
		   "\"sluice\",\"ts_ms\":");
	p = put_i64(p, ev->ts_ms);
	/* Snapshot reads carry the binlog position the snapshot started at; changes
	 * a position that grows with event time (unique per split and index). */
	int64_t pos = 154;
	if (ev->op == 'r') {
		PUT_LIT(p, ",\"snapshot\":\"true\"");
	} else {
		PUT_LIT(p, ",\"snapshot\":\"false\"");
		if (ev->ts_ms > SL_CUSTOMER_BASE_TIME_MS)
			pos += ev->ts_ms - SL_CUSTOMER_BASE_TIME_MS;
	}
	PUT_LIT(p, ",\"db\":\"archive\",\"table\":\"customer_archive\",\"server_id\":1,"
		   "\"file\":\"mysql-bin.000001\",\"pos\":");
	p = put_i64(p, pos);
	PUT_LIT(p, ",\"row\":0},\"op\":\"");
	*p++ = ev->op;
	PUT_LIT(p, "\",\"ts_ms\":");
	/* The connector saw the change a little after the commit: 1..500 ms, a pure
	 * function of the commit time so the output stays deterministic. */
	p = put_i64(p, ev->ts_ms + 1 + (int64_t)(mix64((uint64_t)ev->ts_ms) % 500));
	PUT_LIT(p, ",\"transaction\":null}\n");
	SL_ASSERT((size_t)(p - buf) <= SL_CUSTOMER_JSON_MAX_BYTES);
	return (size_t)(p - buf);
}

static_assert(sizeof(((struct sl_customer_row *)0)->name) % 8 == 0 &&
		  sizeof(((struct sl_customer_row *)0)->address) % 8 == 0 &&
		  sizeof(((struct sl_customer_row *)0)->phone) % 8 == 0 &&
		  sizeof(((struct sl_customer_row *)0)->id_number) % 8 == 0,
	      "put_json_string reads strings in whole words");

static inline bool row_fits(const struct sl_customer_row *row)
{
	return row->name_len < sizeof(row->name) && row->address_len < sizeof(row->address) &&
	       row->phone_len < sizeof(row->phone) && row->id_number_len < sizeof(row->id_number);
}

ssize_t sl_customer_write_debezium(const struct sl_customer_event *ev, char *buf, size_t cap)
{
	SL_ASSERT(ev->op == 'r' || ev->op == 'c' || ev->op == 'u' || ev->op == 'd');
	SL_ASSERT(!ev->has_before || row_fits(&ev->before));
	SL_ASSERT(!ev->has_after || row_fits(&ev->after));
	if (SL_LIKELY(cap >= SL_CUSTOMER_JSON_MAX_BYTES))
		return (ssize_t)write_debezium(ev, buf);
	char tmp[SL_CUSTOMER_JSON_MAX_BYTES];
	size_t len = write_debezium(ev, tmp);
	if (len > cap)
		return -ENOSPC;
	memcpy(buf, tmp, len);
	return (ssize_t)len;
}
