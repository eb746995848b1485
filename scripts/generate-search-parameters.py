#!/usr/bin/env python3
"""Generates Sources/FHIR/Tables/R4SearchParameterTable.tsv from the FHIR R4 core package.

Every standard SearchParameter (SearchParameter-*.json) of every resource type, its FHIRPath
expression turned into element paths the server can walk without a FHIRPath engine:

    Observation.value.as(Quantity)                  -> valueQuantity:Quantity
    (Observation.value as Quantity)                 -> valueQuantity:Quantity
    Observation.effective                           -> effectiveDateTime:dateTime, effectivePeriod:Period, ...
    Condition.subject.where(resolve() is Patient)   -> subject:Reference@Patient
    Patient.telecom.where(system='email')           -> telecom[system=email]:ContactPoint
    (Observation.value as CodeableConcept).text     -> valueCodeableConcept.text:string

Each path ends in the FHIR type of the element it reaches (from the StructureDefinitions), which
tells the indexer how to read a value. Expressions this cannot express (extension('…'), [0],
exists(), no expression) leave a parameter out, listed at the end of the file with the reason
(four columns: base type, code, type, why).

The table is text (one line per parameter, tab-separated; lines starting "#" are comments), compiled
into the binary by the EmbedTables build plugin and parsed once at run time:

    <base type> <code> <type> <definition id> <paths> <targets> <components>

paths: comma-separated `step.step:Type` (a step may carry `[key=value]`; a Reference may end in
`@Target`); targets: comma-separated resource types (references), `*` for any; components (composite):
`;`-separated `type=paths` relative to the composite's own paths.

Usage: scripts/generate-search-parameters.py [PACKAGE_DIR [OUTPUT]] (default ../shared/data/fhir-r4-core,
and the committed file). Deterministic: the same package gives the same file.
"""
import glob
import json
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data", "fhir-r4-core")
out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "Sources", "FHIR", "Tables", "R4SearchParameterTable.tsv")

# Element definitions: "Type.path" -> (types, contentReference)
elements = {}
kinds = {}
for path in sorted(glob.glob(os.path.join(package, "StructureDefinition-*.json"))):
    with open(path, encoding="utf-8") as f:
        sd = json.load(f)
    if sd.get("derivation") == "constraint" or sd.get("kind") == "logical":
        continue
    name = sd["type"]
    if sd.get("url") != "http://hl7.org/fhir/StructureDefinition/" + name:
        continue
    kinds[name] = sd["kind"]
    for element in sd.get("snapshot", {}).get("element", []):
        types = [t["code"] for t in element.get("type", [])]
        types = ["string" if t.startswith("http://hl7.org/fhirpath/") else t for t in types]
        elements[element["path"]] = (types, element.get("contentReference"))


def step_into(context, step):
    """(types, element path) of `step` under `context` (an element path or a datatype name)."""
    candidate = context + "." + step
    if candidate in elements:
        path = candidate
    elif candidate + "[x]" in elements:
        path = candidate + "[x]"
    else:
        return None
    types, reference = elements[path]
    if reference:
        types = elements[reference.lstrip("#")][0]
        return types, path, reference.lstrip("#")
    return types, path, path


def next_context(element, chosen):
    """Where the step after an element of type `chosen` looks its children up."""
    if chosen in ("BackboneElement", "Element", None):
        return element
    return chosen


class Unsupported(Exception):
    pass


def cap(text):
    return text[0].upper() + text[1:]


def resolve(resource_type, term):
    """Paths (`steps:Type`) for one union term of an expression on `resource_type`."""
    term = term.strip()
    # (X as T).rest  ->  X.as(T).rest
    m = re.fullmatch(r"\((.+?) as ([A-Za-z]+)\)(.*)", term)
    if m:
        term = m.group(1) + ".as(" + m.group(2) + ")" + m.group(3)
    if "extension(" in term or "[" in term or "exists()" in term or " and " in term or "hasExtension" in term or "ofType(" in term:
        raise Unsupported("expression " + term)
    if re.match(r"[a-z]", term):
        term = resource_type + "." + term   # a term relative to the base ("name | alias")
    if not term.startswith(resource_type + "."):
        if term == resource_type:
            return [(":" + resource_type, resource_type)]
        return []
    body = term[len(resource_type) + 1:]
    # Split into steps, keeping function calls attached to the step before them.
    tokens = re.findall(r"[A-Za-z]+(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?", body)
    if ".".join(tokens) != body:
        raise Unsupported("expression " + term)
    results = [([], resource_type, None)]   # (json steps, current owner path for lookup, pending choice)
    steps, owner_steps = [], []
    cast, target, filters = None, None, []
    out_steps = []
    plain = []
    for token in tokens:
        if token.startswith("as("):
            cast = token[3:-1]
            continue
        m = re.fullmatch(r"where\(resolve\(\) is ([A-Za-z]+)\)", token)
        if m:
            target = m.group(1)
            continue
        m = re.fullmatch(r"where\(([A-Za-z]+) *= *'([^']*)'\)", token)
        if m:
            if not plain:
                raise Unsupported("filter first in " + term)
            plain[-1] = (plain[-1][0], plain[-1][1] + [(m.group(1), m.group(2))], plain[-1][2])
            continue
        if "(" in token:
            raise Unsupported("function " + token)
        if cast is not None:
            if not plain:
                raise Unsupported("cast first in " + term)
            name, fl, _ = plain[-1]
            plain[-1] = (name, fl, cast)
            cast = None
        plain.append((token, [], None))
    if cast is not None:
        name, fl, _ = plain[-1]
        plain[-1] = (name, fl, cast)
    # Walk the definitions to find the JSON keys and the terminal type; a choice without a cast
    # expands to every type it allows.
    paths = [([], resource_type, resource_type)]   # (json steps, lookup context, terminal type)
    for name, fl, chosen in plain:
        expanded = []
        for json_steps, context, _ in paths:
            found = step_into(context, name)
            if found is None:
                raise Unsupported("no element %s.%s" % (context, name))
            types, full, children = found
            filt = "".join("[%s=%s]" % f for f in fl)
            if full.endswith("[x]"):
                options = [chosen] if chosen else types
                for option in options:
                    match = [t for t in types if t.lower() == option.lower()]
                    if not match:
                        raise Unsupported("no type %s of %s" % (option, full))
                    expanded.append((json_steps + [name + cap(match[0]) + filt], next_context(children, match[0]), match[0]))
            else:
                if chosen and chosen.lower() not in [t.lower() for t in types]:
                    raise Unsupported("no type %s of %s" % (chosen, full))
                fhir_type = types[0] if types else "BackboneElement"
                expanded.append((json_steps + [name + filt], next_context(children, fhir_type if len(types) == 1 else None), fhir_type))
        paths = expanded
    last_types = [t for _, _, t in paths]
    out = []
    for (json_steps, _, _), fhir_type in zip(paths, last_types):
        text = ".".join(json_steps) + ":" + fhir_type
        if target:
            text += "@" + target
        out.append((text, fhir_type))
    return out


def split_union(expression):
    parts, depth, current = [], 0, ""
    i = 0
    while i < len(expression):
        c = expression[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def paths_for(resource_type, expression):
    out = []
    for term in split_union(expression):
        for text, _ in resolve(resource_type, term):
            if text not in out:
                out.append(text)
    return out


definitions = {}
parameters = []
for path in sorted(glob.glob(os.path.join(package, "SearchParameter-*.json"))):
    with open(path, encoding="utf-8") as f:
        parameter = json.load(f)
    definitions[parameter["url"]] = parameter
    parameters.append(parameter)

rows, skipped = [], []
for parameter in parameters:
    kind = parameter["type"]
    for base in sorted(parameter.get("base", [])):
        if base not in kinds or kinds[base] != "resource":
            continue
        if base == "DomainResource" or parameter["id"].startswith("example"):
            continue
        why = None
        expression = parameter.get("expression") or ""
        paths = []
        if kind == "special":
            why = "special parameter"
        elif not expression:
            why = "no expression"
        else:
            try:
                paths = paths_for(base, expression)
                if not paths:
                    why = "no path on " + base
            except Unsupported as error:
                why = str(error)
        components = []
        if why is None and kind == "composite":
            for component in parameter.get("component", []):
                definition = definitions.get(component["definition"])
                if definition is None:
                    why = "unknown component " + component["definition"]
                    break
                owner_paths = paths
                try:
                    # Component expressions are relative to each composite path's element.
                    rels = []
                    for owner in owner_paths:
                        steps, fhir_type = owner.split(":")[0], owner.split(":")[1]
                        element = base + ("." + steps if steps else "")
                        sub = []
                        for term in split_union(component["expression"]):
                            full = base + ("." + steps if steps else "") + "." + term.strip() if not term.strip().startswith("(") else None
                            if full is None:
                                m = re.fullmatch(r"\((.+?) as ([A-Za-z]+)\)", term.strip())
                                full = element + "." + m.group(1) + ".as(" + m.group(2) + ")"
                            for text, _ in resolve(base, full):
                                prefix = (steps + ".") if steps else ""
                                sub.append(text[len(prefix):] if prefix and text.startswith(prefix) else text)
                        rels.append(sub)
                    if any(r != rels[0] for r in rels):
                        why = "components differ between paths"
                        break
                    component_kind = definition["type"]
                    types = {text.split(":")[-1].split("@")[0] for text in rels[0]}
                    # The package's DocumentReference-relationship pairs each component's definition
                    # with the other's expression; the element's own type decides.
                    if component_kind == "reference" and "Reference" not in types:
                        component_kind = "token"
                    elif component_kind == "token" and types == {"Reference"}:
                        component_kind = "reference"
                    components.append(component_kind + "=" + ",".join(rels[0]))
                except Unsupported as error:
                    why = "component: " + str(error)
                    break
        if why is not None:
            skipped.append((base, parameter["code"], kind, why))
            continue
        targets = sorted(parameter.get("target", [])) if kind == "reference" else []
        every = sorted(t for t, k in kinds.items() if k == "resource" and t not in ("Resource", "DomainResource"))
        # A list of (nearly) every type is written `*`: any resource type.
        targets = "*" if len(targets) >= len(every) - 10 else ",".join(targets)
        rows.append("\t".join([base, parameter["code"], kind, parameter["id"], ",".join(paths), targets, ";".join(components)]))

rows.sort()
skipped.sort()
with open(out_path, "w", encoding="utf-8", newline="\n") as f:
    f.write("# Generated by scripts/generate-search-parameters.py from the FHIR R4 4.0.1 core package (hl7.fhir.r4.core, CC0); do not edit.\n")
    f.write("# %d standard search parameters on %d resource types (seven columns); %d left out, with the reason (four columns, at the end).\n"
            % (len(rows), len({r.split("\t")[0] for r in rows}), len(skipped)))
    for row in rows:
        f.write(row + "\n")
    for base, code, kind, why in skipped:
        f.write("\t".join([base, code, kind, why.replace("\t", " ")]) + "\n")
print("%d parameters, %d skipped" % (len(rows), len(skipped)))
