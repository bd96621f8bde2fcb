"""Chinese B2B vocabulary for the generator, and the USCC check character.

Region codes are SAP's own keys for country CN (table T005S, e.g. 020 = Shanghai), not
ISO 3166-2; the division codes inside the USCC are GB/T 2260 district codes of the city.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    name: str  # city, Chinese
    district: str
    region: str  # SAP region key (T005S, country CN)
    postal: str  # first 4 digits of the postal code
    division: str  # GB/T 2260 district code (USCC positions 3-8)
    area_code: str  # telephone area code without the trunk 0
    pinyin: str


CITIES: tuple[City, ...] = (
    City("上海", "浦东新区", "020", "2001", "310115", "21", "SHANGHAI"),
    City("上海", "闵行区", "020", "2011", "310112", "21", "SHANGHAI"),
    City("北京", "朝阳区", "010", "1000", "110105", "10", "BEIJING"),
    City("北京", "海淀区", "010", "1000", "110108", "10", "BEIJING"),
    City("天津", "滨海新区", "030", "3004", "120116", "22", "TIANJIN"),
    City("重庆", "渝北区", "320", "4011", "500112", "23", "CHONGQING"),
    City("广州", "天河区", "190", "5106", "440106", "20", "GUANGZHOU"),
    City("深圳", "南山区", "190", "5180", "440305", "755", "SHENZHEN"),
    City("东莞", "松山湖", "190", "5238", "441900", "769", "DONGGUAN"),
    City("杭州", "西湖区", "130", "3100", "330106", "571", "HANGZHOU"),
    City("宁波", "鄞州区", "130", "3151", "330212", "574", "NINGBO"),
    City("苏州", "虎丘区", "100", "2150", "320505", "512", "SUZHOU"),
    City("南京", "鼓楼区", "100", "2100", "320106", "25", "NANJING"),
    City("无锡", "新吴区", "100", "2140", "320214", "510", "WUXI"),
    City("成都", "武侯区", "230", "6100", "510107", "28", "CHENGDU"),
    City("武汉", "武昌区", "170", "4300", "420106", "27", "WUHAN"),
    City("西安", "雁塔区", "250", "7100", "610113", "29", "XIAN"),
    City("青岛", "崂山区", "120", "2661", "370212", "532", "QINGDAO"),
    City("厦门", "思明区", "150", "3610", "350203", "592", "XIAMEN"),
    City("合肥", "蜀山区", "110", "2300", "340104", "551", "HEFEI"),
    City("长沙", "岳麓区", "160", "4100", "430104", "731", "CHANGSHA"),
    City("郑州", "金水区", "180", "4500", "410105", "371", "ZHENGZHOU"),
)

TRADE_NAMES = (
    "华东",
    "华南",
    "中科",
    "东方",
    "恒通",
    "鑫源",
    "永盛",
    "金桥",
    "瑞丰",
    "宏达",
    "博远",
    "天成",
    "振华",
    "联创",
    "德信",
    "中联",
    "新锐",
    "海川",
    "长城",
    "星辰",
    "万达",
    "远航",
    "嘉禾",
    "凯盛",
    "安泰",
    "广源",
    "利华",
    "正泰",
    "明阳",
    "信诚",
)
INDUSTRIES = (
    ("精密机械", "Precision Machinery", "MACH"),
    ("电子科技", "Electronics", "ELEC"),
    ("新材料", "New Materials", "CHEM"),
    ("化工", "Chemicals", "CHEM"),
    ("医疗器械", "Medical Devices", "MEDI"),
    ("自动化设备", "Automation Equipment", "MACH"),
    ("物流", "Logistics", "LOGI"),
    ("包装材料", "Packaging", "PACK"),
    ("光电", "Optoelectronics", "ELEC"),
    ("汽车零部件", "Auto Parts", "AUTO"),
    ("智能科技", "Smart Technology", "ELEC"),
    ("建材", "Building Materials", "CONS"),
    ("食品", "Food", "FOOD"),
    ("纺织", "Textiles", "TEXT"),
    ("环保科技", "Environmental Technology", "ENVI"),
)
LEGAL_SUFFIXES = ("有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司")
STREETS = (
    "世纪大道",
    "张江路",
    "建国路",
    "中关村大街",
    "天河路",
    "科技园南路",
    "文三路",
    "星湖街",
    "中山路",
    "人民路",
    "解放路",
    "高新大道",
    "长江路",
    "黄河路",
    "创新大道",
    "滨江大道",
)
SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
)
GIVEN_NAMES = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "平",
    "建国",
    "晓东",
    "海燕",
    "志强",
)
EMAIL_DOMAINS = ("com.cn", "cn", "com")

PRODUCTS = (
    ("数控车床", "CNC lathe", "MACH", "EA", "268000"),
    ("伺服电机", "Servo motor", "ELEC", "EA", "3580"),
    ("工业机器人手臂", "Industrial robot arm", "MACH", "EA", "158000"),
    ("不锈钢板 2mm", "Stainless steel sheet 2 mm", "METL", "M2", "186.5"),
    ("铝型材 6063", "Aluminium profile 6063", "METL", "KG", "23.8"),
    ("PLC 控制器", "PLC controller", "ELEC", "EA", "4250"),
    ("液压泵", "Hydraulic pump", "MACH", "EA", "9600"),
    ("轴承 6205", "Ball bearing 6205", "MACH", "EA", "12.6"),
    ("电缆 YJV 3x95", "Power cable YJV 3x95", "ELEC", "M", "152.3"),
    ("环氧树脂", "Epoxy resin", "CHEM", "KG", "31.2"),
    ("包装纸箱", "Corrugated carton", "PACK", "EA", "4.35"),
    ("LED 驱动电源", "LED driver", "ELEC", "EA", "58.9"),
    ("医用口罩", "Medical face mask", "MEDI", "BOX", "45"),
    ("变频器 7.5kW", "Frequency inverter 7.5 kW", "ELEC", "EA", "3120"),
    ("传感器模块", "Sensor module", "ELEC", "EA", "268.75"),
    ("齿轮减速机", "Gear reducer", "MACH", "EA", "5420"),
)

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_VALUE = {ch: n for n, ch in enumerate(_USCC_CHARS)}
_ORG_VALUE = {ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def org_code(body: str) -> str:
    """GB 11714 organisation code: 8 characters + check character."""
    total = sum(map(int.__mul__, map(_ORG_VALUE.__getitem__, body), _ORG_WEIGHTS))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def uscc_check(first17: str) -> str:
    """GB 32100-2015 check character of a unified social credit code."""
    total = sum(map(int.__mul__, map(_VALUE.__getitem__, first17), _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc(division: str, serial: int) -> str:
    """A valid USCC for an enterprise (91…) registered in `division`."""
    first17 = "91" + division + org_code(f"{serial % 10**8:08d}")
    return first17 + uscc_check(first17)


def is_valid_uscc(code: str) -> bool:
    return (
        len(code) == 18 and all(ch in _VALUE for ch in code) and uscc_check(code[:17]) == code[17]
    )
