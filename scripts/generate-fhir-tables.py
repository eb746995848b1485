#!/usr/bin/env python3
"""Generates Sources/FHIR/Tables/R4Definitions.tsv from the official FHIR R4 (4.0.1) core package.

Usage: scripts/generate-fhir-tables.py [CORE_DIR] [OUTPUT]
  CORE_DIR defaults to ../shared/data/fhir-r4-core (next to the package root),
  OUTPUT   defaults to Sources/FHIR/Tables/R4Definitions.tsv (compiled into the binary by the
           EmbedTables build plugin).

Python 3, standard library only. Rerunnable; the output depends only on the package's files
(sorted everywhere), so running it twice gives the same bytes.

It reads the snapshot elements of every StructureDefinition that is a specialization (each R4 resource
type, complex datatype and primitive type; profiles such as SimpleQuantity are left out) and writes one
tab-separated text table, embedded in a Swift raw string literal (a single string literal compiles in
seconds, where a large array-of-structs literal does not). FHIRValidator parses it on first use.

Lines of the table (fields separated by TAB):
  P  name  json  regex              a primitive type: json is s (string), n (number) or b (boolean);
                                     regex is the StructureDefinition's value regex ("" if none)
  T  name  kind                     a type: r (resource), a (abstract resource), c (complex datatype)
  E  path  min  max  types  vs      an element of the last T: path is the full element path (choice
                                     elements keep their "[x]"); max is a number or *; types is
                                       "|"-separated type codes (the concrete types of a choice),
                                       "" for a BackboneElement/Element with its own children (node = path),
                                       "@Path" for a contentReference (node = Path);
                                     vs is the index of the required binding's value set, or "" if none
  V  index  url                     a required-binding value set that could be expanded, followed by
  S  system  code  code …           the allowed codes from one code system (system "" when unknown)
  X  url  reason                    a required-binding value set that could not be expanded (not checked)
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "data", "fhir-r4-core")
OUTPUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "Sources", "FHIR", "Tables", "R4Definitions.tsv")

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
NUMBER_TYPES = {"integer", "positiveInt", "unsignedInt", "decimal"}


def load(name):
    with open(os.path.join(CORE, name), encoding="utf-8") as f:
        return json.load(f)


def files(prefix):
    return sorted(n for n in os.listdir(CORE) if n.startswith(prefix) and n.endswith(".json"))


def type_code(t):
    """The FHIR type code of an ElementDefinition.type (System.String & co carry it in an extension)."""
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return ext["valueUrl"]
        return "string"
    return code


# ---------------------------------------------------------------- code systems and value sets

code_systems = {}   # url -> CodeSystem json
for name in files("CodeSystem-"):
    cs = load(name)
    if "url" in cs:
        code_systems[cs["url"]] = cs

value_sets = {}     # url -> ValueSet json
for name in files("ValueSet-"):
    vs = load(name)
    if "url" in vs:
        value_sets[vs["url"]] = vs


class Unexpandable(Exception):
    pass


def concepts_of(cs):
    """(code, [child codes]) tree of a code system, flattened to {code: [children]} in document order."""
    tree = {}
    order = []

    def walk(concepts, parent):
        for c in concepts:
            code = c["code"]
            if code not in tree:
                tree[code] = []
                order.append(code)
            if parent is not None:
                tree[parent].append(code)
            walk(c.get("concept", []), code)
            # Some systems use the subsumedBy / parent property instead of nesting.
            for p in c.get("property", []):
                if p.get("code") in ("subsumedBy", "parent") and "valueCode" in p:
                    tree.setdefault(p["valueCode"], []).append(code)

    walk(cs.get("concept", []), None)
    return tree, order


def descendants(tree, code, include_self):
    out, stack, seen = [], [code], set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        if c != code or include_self:
            out.append(c)
        stack.extend(tree.get(c, []))
    return out


def expand(url, stack=()):
    """{system: set(codes)} for a value set url, or raise Unexpandable."""
    url = url.split("|")[0]
    if url in stack:
        raise Unexpandable("recursive")
    vs = value_sets.get(url)
    if vs is None:
        raise Unexpandable("value set not in the package")
    compose = vs.get("compose")
    if compose is None:
        raise Unexpandable("no compose")

    def part(inc):
        result = {}
        for sub in inc.get("valueSet", []):
            sub_codes = expand(sub, stack + (url,))
            if "system" not in inc and "concept" not in inc:
                for s, codes in sub_codes.items():
                    result.setdefault(s, set()).update(codes)
                continue
            raise Unexpandable("include.valueSet combined with system")
        system = inc.get("system")
        if system is None:
            return result
        if "concept" in inc and "filter" not in inc:
            result.setdefault(system, set()).update(c["code"] for c in inc["concept"])
            return result
        cs = code_systems.get(system)
        if cs is None:
            raise Unexpandable("code system %s not in the package" % system)
        if cs.get("content") != "complete":
            raise Unexpandable("code system %s content is %s" % (system, cs.get("content")))
        tree, order = concepts_of(cs)
        codes = set(order)
        for f in inc.get("filter", []):
            prop, op, value = f.get("property"), f.get("op"), f.get("value")
            if prop == "concept" and op == "is-a":
                codes &= set(descendants(tree, value, True))
            elif prop == "concept" and op == "descendent-of":
                codes &= set(descendants(tree, value, False))
            elif prop == "concept" and op == "is-not-a":
                codes -= set(descendants(tree, value, True))
            else:
                raise Unexpandable("filter %s %s" % (prop, op))
        if "concept" in inc:
            codes &= {c["code"] for c in inc["concept"]}
        result.setdefault(system, set()).update(codes)
        return result

    codes = {}
    for inc in compose.get("include", []):
        for s, cs in part(inc).items():
            codes.setdefault(s, set()).update(cs)
    for exc in compose.get("exclude", []):
        for s, cs in part(exc).items():
            if s in codes:
                codes[s] -= cs
    if not any(codes.values()):
        raise Unexpandable("expands to no codes")
    return codes


# ---------------------------------------------------------------- structure definitions

primitives = {}     # name -> (json kind, regex)
types = []          # (name, kind, [element rows])
vs_index = {}       # url -> index
vs_codes = []       # index -> (url, {system: codes})
unexpandable = {}   # url -> reason
binding_count = 0

structure_defs = []
for name in files("StructureDefinition-"):
    sd = load(name)
    if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") == "logical":
        continue
    if sd.get("derivation") == "constraint":
        continue    # profiles (SimpleQuantity, vitalsigns, …): not base types
    structure_defs.append(sd)
structure_defs.sort(key=lambda sd: sd["type"])

for sd in structure_defs:
    tname, kind = sd["type"], sd["kind"]
    elements = sd["snapshot"]["element"]
    if kind == "primitive-type":
        regex = ""
        for e in elements:
            if e["path"] == tname + ".value":
                for t in e.get("type", []):
                    for ext in t.get("extension", []):
                        if ext.get("url") == REGEX_EXT:
                            regex = ext["valueString"]
        json_kind = "b" if tname == "boolean" else "n" if tname in NUMBER_TYPES else "s"
        primitives[tname] = (json_kind, regex)
        continue
    if kind == "resource":
        k = "a" if sd.get("abstract") else "r"
    else:
        k = "c"
    paths = [e["path"] for e in elements]
    has_children = {p.rsplit(".", 1)[0] for p in paths if "." in p}
    rows = []
    for e in elements[1:]:
        path = e["path"]
        if "contentReference" in e:
            tfield = "@" + e["contentReference"].lstrip("#")
        elif path in has_children:
            tfield = ""
        else:
            codes = [type_code(t) for t in e.get("type", [])]
            if k in ("r", "a") and path == tname + ".id":
                codes = ["id"]      # Resource.id is an id (the snapshot says System.String)
            tfield = "|".join(dict.fromkeys(codes))
        vs_field = ""
        binding = e.get("binding")
        if binding and binding.get("strength") == "required" and binding.get("valueSet"):
            binding_count += 1
            url = binding["valueSet"].split("|")[0]
            if url not in vs_index and url not in unexpandable:
                try:
                    vs_index[url] = len(vs_codes)
                    vs_codes.append((url, expand(url)))
                except Unexpandable as why:
                    del vs_index[url]
                    unexpandable[url] = str(why)
            if url in vs_index:
                vs_field = str(vs_index[url])
        rows.append("E\t%s\t%s\t%s\t%s\t%s" % (path, e.get("min", 0), e.get("max", "*"), tfield, vs_field))
    types.append((tname, k, rows))

# ---------------------------------------------------------------- output

lines = ["# FHIR R4 4.0.1 (hl7.fhir.r4.core) tables generated by scripts/generate-fhir-tables.py; do not edit."]
for name in sorted(primitives):
    json_kind, regex = primitives[name]
    lines.append("P\t%s\t%s\t%s" % (name, json_kind, regex))
for url, index in sorted(vs_index.items(), key=lambda kv: kv[1]):
    lines.append("V\t%d\t%s" % (index, url))
    for system, codes in sorted(vs_codes[index][1].items()):
        lines.append("S\t%s\t%s" % (system, "\t".join(sorted(codes))))
for url in sorted(unexpandable):
    lines.append("X\t%s\t%s" % (url, unexpandable[url]))
for tname, k, rows in types:
    lines.append("T\t%s\t%s" % (tname, k))
    lines.extend(rows)
lines.insert(1, "# %d primitive types, %d resource and datatype definitions, %d required-binding value sets expanded, %d not expandable (their codes are not checked; listed in the X lines)."
             % (len(primitives), len(types), len(vs_codes), len(unexpandable)))
text = "\n".join(lines) + "\n"
assert "\r" not in text

os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
with open(OUTPUT, "w", encoding="utf-8", newline="\n") as f:
    f.write(text)

element_count = sum(len(rows) for _, _, rows in types)
print("wrote %s: %d bytes" % (os.path.relpath(OUTPUT, ROOT), len(text.encode("utf-8"))))
print("  primitive types: %d (%s)" % (len(primitives), ", ".join(sorted(primitives))))
print("  resources: %d, abstract resources: %d, complex datatypes: %d, elements: %d"
      % (sum(1 for t in types if t[1] == "r"), sum(1 for t in types if t[1] == "a"),
         sum(1 for t in types if t[1] == "c"), element_count))
print("  required bindings: %d, value sets expanded: %d (%d codes), not expandable: %d"
      % (binding_count, len(vs_codes), sum(len(c) for _, s in vs_codes for c in s.values()), len(unexpandable)))
for url in sorted(unexpandable):
    print("    not expanded: %s (%s)" % (url, unexpandable[url]))
