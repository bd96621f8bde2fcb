"""Regenerate the bundled demo data in api/cli/demo_data/ (deterministic, seed 2024).

The files imitate what an ERP and a bank hand over: a UTF-8 customer export, a contact
list, an Excel material master, a JSON-lines order feed and a GB18030 bank statement,
with the defects real exports have (a bad USCC, an unknown code, a dangling reference,
a total row). Run: .venv/bin/python scripts/make_demo_data.py
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook

from core.model.uscc import ALPHABET, check_character

OUT = Path(__file__).resolve().parents[1] / "api" / "cli" / "demo_data"
rng = random.Random(2024)

CITIES = [  # (province, city, admin division code, district, phone prefix)
    ("上海市", "上海市", "310115", "浦东新区", "021"),
    ("广东省", "深圳市", "440300", "南山区", "0755"),
    ("浙江省", "杭州市", "330106", "西湖区", "0571"),
    ("江苏省", "苏州市", "320505", "苏州工业园区", "0512"),
    ("四川省", "成都市", "510107", "武侯区", "028"),
    ("北京市", "北京市", "110108", "海淀区", "010"),
    ("湖北省", "武汉市", "420111", "洪山区", "027"),
    ("山东省", "青岛市", "370212", "崂山区", "0532"),
]
BRANDS = [
    "华东",
    "云帆",
    "博远",
    "天府",
    "中科",
    "恒信",
    "鼎盛",
    "瑞丰",
    "启明",
    "海川",
    "九州",
    "长风",
    "金桥",
    "星河",
    "智联",
    "宏图",
    "新锐",
    "东方",
    "卓越",
    "汇通",
]
TRADES = [  # (industry code, business words)
    ("01", ["精密机械", "智能装备", "汽车零部件", "新材料"]),
    ("02", ["信息技术", "软件", "数据科技", "网络科技"]),
    ("03", ["贸易", "商贸", "供应链管理"]),
    ("04", ["建设工程", "建筑科技"]),
    ("05", ["能源科技", "新能源", "电力设备"]),
    ("06", ["医疗器械", "生物医药"]),
]
PARKS = ["科技园", "工业园", "高新区"]
FORMS = ["有限公司", "有限公司", "股份有限公司", "有限责任公司"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "建国",
    "伟",
    "芳",
    "敏",
    "静",
    "磊",
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
]
TITLES = [
    ("采购总监", "采购部", "决策者"),
    ("总经理", "总经办", "决策者"),
    ("技术经理", "技术部", "影响者"),
    ("设备工程师", "生产部", "使用者"),
    ("财务经理", "财务部", "影响者"),
    ("采购专员", "采购部", "使用者"),
]
PRODUCTS = [
    ("P-1001", "数控车床 CK6150", "最大回转直径500mm，含三爪卡盘", "台", 128000),
    ("P-1002", "立式加工中心 VMC850", "三轴，BT40主轴，8000rpm", "台", 286000),
    ("P-1003", "工业机器人 IR-20", "六轴，负载20kg，臂展1.8m", "套", 168000),
    ("P-2001", "伺服电机 SM-750", "750W，220V，带编码器", "个", 1850.5),
    ("P-2002", "减速机 RV-40E", "精密摆线减速机", "个", 9600),
    ("P-3001", "MES 系统许可", "每用户永久许可", "套", 12000),
    ("P-3002", "年度维保服务", "7×24小时响应", "件", 36000),
    ("P-4001", "切削液", "20L/桶，水溶性", "箱", 680),
    ("p-4002 ", "刀具套装", "硬质合金，12件", "套", 2399.9),
    (5001, "传感器模块", "光电传感器，NPN", "个", 0.1 + 0.2),
    ("P-5002", "PLC 控制器", "32点 I/O，以太网", "台", 5200),
    ("P-9001", "旧型号配件", "已停产", "件", 150),
]


def uscc(admin: str) -> str:
    body = "91" + admin + "".join(rng.choice(ALPHABET) for _ in range(9))
    return body + check_character(body)


def when(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 5, 1, hour, 0) + timedelta(days=day, minutes=rng.randrange(0, 600))


def customers() -> list[dict[str, str]]:
    rows = []
    for i in range(1, 41):
        province, city, admin, district, area = CITIES[i % len(CITIES)]
        industry, words = TRADES[i % len(TRADES)]
        short = city.removesuffix("市")
        name = f"{short}{BRANDS[i % len(BRANDS)]}{rng.choice(words)}{rng.choice(FORMS)}"
        limit = Decimal(rng.randrange(20, 300)) * 10000
        rows.append(
            {
                "customer_code": f"C{i:06d}",
                "company_name": name,
                "uscc": uscc(admin),
                "industry_code": industry,
                "province": province,
                "city": city,
                "address": f"{district}{rng.choice(PARKS)}{rng.randrange(1, 300)}号",
                "phone": f"{area}-{rng.randrange(5000, 8999)} {rng.randrange(1000, 9999)}",
                "email": f"sales{i}@example.cn",
                "credit_limit": f"{limit:,.2f}",
                "currency": rng.choice(["RMB", "CNY", "CNY"]),
                "payment_terms": rng.choice(["月结30天", "月结60天", "款到发货", "货到付款"]),
                "updated_at": when(i % 5).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    rows[6]["uscc"] = rows[6]["uscc"].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    rows[11]["uscc"] = rows[11]["uscc"][:17] + ("0" if rows[11]["uscc"][17] != "0" else "1")
    rows[17]["industry_code"] = "99"
    rows[23]["company_name"] = "  " + rows[23]["company_name"] + "  "
    rows[29]["email"] = ""
    # the ERP holds this company twice: USCC matching links both codes to one account,
    # and the newer record's values win
    later = datetime.strptime(rows[2]["updated_at"], "%Y-%m-%d %H:%M:%S") + timedelta(days=1)
    rows.append(
        {
            **rows[2],
            "customer_code": "C000041",
            "company_name": rows[2]["company_name"].replace("有限公司", "（中国）有限公司"),
            "credit_limit": "500,000.00",
            "updated_at": f"{later:%Y-%m-%d %H:%M:%S}",
        }
    )
    rows.append(
        {
            **rows[0],
            "customer_code": "C000042",
            "company_name": "Shenzhen Cloudsail Trading Co., Ltd.",
            "uscc": uscc("440300"),
            "currency": "USD",
            "industry_code": "03",
        }
    )
    return rows


def contacts(codes: list[str]) -> list[dict[str, str]]:
    rows = []
    for i in range(1, 81):
        title, department, role = rng.choice(TITLES)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        rows.append(
            {
                "contact_id": f"P{i:06d}",
                "customer_code": codes[(i - 1) % len(codes)],
                "name": name,
                "title": title,
                "department": department,
                "email": f"contact{i}@example.cn",
                "mobile": f"1{rng.choice('3589')}{rng.randrange(0, 10)} "
                f"{rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
                "role": role,
                "updated_at": when(i % 7).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    rows[9]["customer_code"] = "C009999"  # a contact of a customer the ERP never exported
    return rows


def orders(codes: list[str]) -> list[dict]:
    rows = []
    for i in range(1, 121):
        items, net = [], Decimal(0)
        for line in range(1, rng.randrange(2, 5)):
            sku, description, _spec, uom, price = rng.choice(PRODUCTS[:8])
            qty = rng.randrange(1, 6)
            amount = Decimal(str(price)) * qty
            net += amount
            items.append(
                {
                    "line": line * 10,
                    "sku": sku,
                    "description": description,
                    "qty": qty,
                    "uom": {"台": "ST", "个": "PC", "套": "套", "件": "件", "箱": "箱"}[uom],
                    "price": f"{Decimal(str(price)):.2f}",
                    "amount": f"{amount:.2f}",
                    "tax_rate": 13,
                }
            )
        tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
        day = rng.randrange(0, 25)
        rows.append(
            {
                "order_no": f"SO2024{i:04d}",
                "customer_code": codes[rng.randrange(0, len(codes))],
                "order_date": (datetime(2024, 5, 1) + timedelta(days=day)).strftime("%Y%m%d"),
                "status": rng.choice("NAABCC"),
                "currency": "CNY",
                "net": f"{net:,.2f}",
                "tax": f"{tax:.2f}",
                "total": f"{net + tax:.2f}",
                "updated_at": (when(day).isoformat(timespec="seconds") + "+08:00"),
                "items": items,
            }
        )
    rows[30]["status"] = "Z"
    return rows


def payments(order_rows: list[dict]) -> list[dict[str, str]]:
    rows, total = [], Decimal(0)
    for i, order in enumerate(order_rows[:100], start=1):
        amount = Decimal(order["total"]) * rng.choice([Decimal(1), Decimal("0.3"), Decimal("0.5")])
        amount = amount.quantize(Decimal("0.01"))
        total += amount
        rows.append(
            {
                "流水号": f"20240{5 + i // 60}{i:02d}00{rng.randrange(100000, 999999)}",
                "付款单位": "",
                "客户编码": order["customer_code"],
                "金额": f"{amount:,.2f}",
                "币种": rng.choice(["人民币", "人民币", "CNY"]),
                "到账日期": (datetime(2024, 5, 5) + timedelta(days=i // 4)).strftime("%Y/%m/%d"),
                "付款方式": rng.choice(["电汇", "电汇", "银行承兑汇票", "支票"]),
            }
        )
    rows.append(
        {
            "流水号": "合计",
            "付款单位": "",
            "客户编码": "",
            "金额": f"{total:,.2f}",
            "币种": "",
            "到账日期": "",
            "付款方式": "",
        }
    )
    return rows


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    customer_rows = customers()
    names = {r["customer_code"]: r["company_name"].strip() for r in customer_rows}
    codes = [r["customer_code"] for r in customer_rows[:40]]
    write_csv(OUT / "customers.csv", customer_rows)
    write_csv(OUT / "contacts.csv", contacts(codes))
    refused = {customer_rows[11]["customer_code"], customer_rows[17]["customer_code"]}
    order_rows = orders([c for c in codes if c not in refused])
    with (OUT / "orders.jsonl").open("w", encoding="utf-8") as handle:
        for row in order_rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    payment_rows = payments(order_rows)
    for row in payment_rows:
        row["付款单位"] = names.get(row["客户编码"], "")
    write_csv(OUT / "payments.csv", payment_rows, encoding="gb18030")
    book = Workbook()
    sheet = book.active
    sheet.title = "物料主数据"
    sheet.append(["物料编码", "物料名称", "规格", "单位", "标准价", "币种", "状态"])
    for index, (sku, name, spec, unit, price) in enumerate(PRODUCTS):
        status = "停用" if sku == "P-9001" else "启用"
        sheet.append([sku, name, spec, unit, price, "人民币" if index % 3 else "CNY", status])
    book.save(OUT / "products.xlsx")
    # day 2: the ERP exports changed customers again, one of them out of order (older)
    day2 = [dict(customer_rows[0]), dict(customer_rows[1])]
    day2[0].update(credit_limit="2,000,000.00", updated_at="2024-05-20 10:00:00")
    day2[1].update(city="东莞市", updated_at="2024-04-01 08:00:00")  # older than what we hold
    (OUT / "day2").mkdir(exist_ok=True)
    write_csv(OUT / "day2" / "customers_day2.csv", day2)
    print(f"demo data written to {OUT}")


if __name__ == "__main__":
    main()
