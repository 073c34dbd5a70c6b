#!/usr/bin/python3
"""Check META.json against the PGXN Meta Spec v1.0.0 (https://pgxn.org/meta/spec.txt).

Checks what the spec requires: the required keys, their types, semantic
versions, the license names the spec lists, the provides, prereqs, no_index and
resources structures, and that the distribution's version is the control
file's default_version.  Prints one line per problem; exits 1 if any.
Usage: tools/meta-check.py [META.json]
"""
import json
import os
import re
import sys

LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
    "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
    "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
    "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown",
}
REQUIRED = ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec")
OPTIONAL = ("description", "generated_by", "tags", "no_index", "prereqs",
            "release_status", "resources")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([a-zA-Z][0-9a-zA-Z-]*)?$")
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}
problems = []


def bad(msg):
    problems.append(msg)


def nonempty_string(v):
    return isinstance(v, str) and v.strip() != ""


def version_range(v):
    # 0 (any), a version, or comparisons joined by commas (">= 1.2.0, < 2.0.0")
    if v == 0 or v == "0":
        return True
    if not isinstance(v, str):
        return False
    for part in v.split(","):
        m = re.match(r"^\s*(==|!=|>=|<=|>|<)?\s*(\S+)\s*$", part)
        if not m or not SEMVER.match(m.group(2)):
            return False
    return True


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "META.json"
    try:
        meta = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f"{path}: not readable JSON: {e}")
        return 1
    if not isinstance(meta, dict):
        print(f"{path}: not a JSON object")
        return 1
    for k in REQUIRED:
        if k not in meta:
            bad(f"missing required key {k!r}")
    for k in meta:
        if k not in REQUIRED and k not in OPTIONAL and not k.lower().startswith("x_"):
            bad(f"unknown key {k!r} (custom keys start with x_)")
    if "name" in meta and not (nonempty_string(meta["name"]) and re.match(r"^[^/\\\s:]{2,}$", meta["name"])):
        bad("name: two or more characters, no whitespace, '/', '\\' or ':'")
    for k in ("abstract", "description"):
        if k in meta and not nonempty_string(meta[k]):
            bad(f"{k}: a non-empty string")
    if "version" in meta and not (isinstance(meta["version"], str) and SEMVER.match(meta["version"])):
        bad("version: a semantic version (x.y.z)")
    m = meta.get("maintainer")
    if not (nonempty_string(m) or (isinstance(m, list) and m and all(nonempty_string(x) for x in m))):
        bad("maintainer: a string or a non-empty list of strings")
    lic = meta.get("license")
    if isinstance(lic, str):
        if lic not in LICENSES:
            bad(f"license: {lic!r} is not one of the spec's names")
    elif isinstance(lic, list):
        if not lic or any(x not in LICENSES for x in lic):
            bad("license: every name in the list must be one of the spec's")
    elif isinstance(lic, dict):
        if not lic or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in lic.values()):
            bad("license: an object maps license names to URLs")
    else:
        bad("license: a string, a list or an object")
    prov = meta.get("provides")
    if not isinstance(prov, dict) or not prov:
        bad("provides: a non-empty object")
    else:
        for ext, d in prov.items():
            if not isinstance(d, dict):
                bad(f"provides.{ext}: an object")
                continue
            for k in ("file", "version"):
                if k not in d:
                    bad(f"provides.{ext}: missing {k!r}")
            if "version" in d and not (isinstance(d["version"], str) and SEMVER.match(d["version"])):
                bad(f"provides.{ext}.version: a semantic version")
            for k in ("file", "docfile"):
                if k in d and not os.path.exists(os.path.join(os.path.dirname(path) or ".", d[k])):
                    bad(f"provides.{ext}.{k}: {d[k]} does not exist")
            for k in d:
                if k not in ("file", "version", "abstract", "docfile") and not k.lower().startswith("x_"):
                    bad(f"provides.{ext}: unknown key {k!r}")
    spec = meta.get("meta-spec")
    if not (isinstance(spec, dict) and spec.get("version") == "1.0.0"):
        bad("meta-spec: {\"version\": \"1.0.0\", ...}")
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        bad("release_status: stable, testing or unstable")
    if "tags" in meta and not (isinstance(meta["tags"], list) and all(nonempty_string(t) and len(t) < 256 for t in meta["tags"])):
        bad("tags: a list of non-empty strings under 256 characters")
    ni = meta.get("no_index", {})
    if not isinstance(ni, dict) or any(k not in ("file", "directory") or not isinstance(v, (list, str)) for k, v in ni.items()):
        bad("no_index: an object with file and/or directory lists")
    for phase, rels in meta.get("prereqs", {}).items():
        if phase not in PHASES or not isinstance(rels, dict):
            bad(f"prereqs.{phase}: not a phase ({', '.join(sorted(PHASES))})")
            continue
        for rel, reqs in rels.items():
            if rel not in RELATIONS or not isinstance(reqs, dict):
                bad(f"prereqs.{phase}.{rel}: not a relation ({', '.join(sorted(RELATIONS))})")
                continue
            for name, v in reqs.items():
                if not version_range(v):
                    bad(f"prereqs.{phase}.{rel}.{name}: {v!r} is not a version range")
    res = meta.get("resources", {})
    if not isinstance(res, dict) or any(k not in ("homepage", "bugtracker", "repository") and not k.lower().startswith("x_") for k in res):
        bad("resources: homepage, bugtracker, repository")
    # the distribution's version is the extension's
    control = os.path.join(os.path.dirname(path) or ".", "resilience.control")
    if os.path.exists(control) and isinstance(meta.get("version"), str):
        dv = re.search(r"^default_version\s*=\s*'([^']*)'", open(control).read(), re.M)
        if dv:
            want = dv.group(1) + ".0" * (2 - dv.group(1).count("."))
            if meta["version"] != want or any(isinstance(d, dict) and d.get("version") != want for d in (prov or {}).values()):
                bad(f"version: resilience.control says {dv.group(1)}, so META.json must say {want}")
    for p in problems:
        print(f"{path}: {p}")
    if not problems:
        print(f"{path}: valid PGXN Meta Spec 1.0.0 ({meta['name']} {meta['version']})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
