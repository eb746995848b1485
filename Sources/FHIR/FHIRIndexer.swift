import Foundation
public import Vault

/// Finds the searchable parts of a FHIR R4 resource, as `SearchParameters` defines them: direct
/// identifiers (names, identifiers, telecom, address) for the blind index, and codes, dates and
/// status as plain values. Free text (narrative, notes, string values) is never extracted.
public enum FHIRIndexer {
    /// Most identifiers and most values taken from one resource; further ones are not indexed.
    public static let itemsMax = 1_000

    /// The indexable fields of a parsed resource.
    public static func extract(_ resource: [String: Any]) -> ExtractedFields {
        let type = resource["resourceType"] as? String ?? ""
        var fields = ExtractedFields(resourceType: type)
        func value(_ name: String, _ text: String) {
            guard !text.isEmpty, fields.values.count < itemsMax else { return }
            let item = IndexedValue(param: name, value: text)
            if !fields.values.contains(item) { fields.values.append(item) }
        }
        value("_type", type)
        for parameter in SearchParameters.forType(type).values.sorted(by: { $0.name < $1.name }) {
            let elements = parameter.paths.flatMap { elementValues(resource, path: $0) }
            switch (parameter.target, parameter.kind) {
            case (.patient, _): continue
            case (.blind(let field), .date):
                for case let text as String in elements where fields.identifiers.count < itemsMax {
                    guard let normalized = FHIRDateTime.normalized(text) else { continue }
                    fields.identifiers.append(ExtractedIdentifier(field: field, value: normalized))
                    fields.sortValues.append(IndexedValue(param: parameter.name, value: normalized))
                }
            case (.blind(let field), _):
                for element in elements {
                    for text in blindTexts(element) where fields.identifiers.count < itemsMax {
                        fields.identifiers.append(ExtractedIdentifier(field: field, value: text))
                    }
                    // An Identifier with a system is also indexed as `system|value` (one keyed token).
                    if field == .identifier, let object = element as? [String: Any], let system = object["system"] as? String,
                       let text = object["value"] as? String, !system.isEmpty, fields.identifiers.count < itemsMax {
                        fields.identifiers.append(ExtractedIdentifier(field: field, value: BlindIndexer.systemQualified(system: system, value: text)))
                    }
                }
            case (.value, .date):
                for element in elements {
                    let text = (element as? String) ?? ((element as? [String: Any])?["start"] as? String)
                    if let text, let normalized = FHIRDateTime.normalized(text) { value(parameter.name, normalized) }
                }
            case (.value, _):
                for element in elements { for token in tokens(element) { value(parameter.name, token) } }
            }
        }
        return fields
    }

    /// Parses and extracts (for callers holding bytes).
    public static func extract(_ json: [UInt8]) throws(FHIRError) -> ExtractedFields {
        let resource = try FHIRJSON.object(json)
        try FHIRJSON.validate(resource)
        return extract(resource)
    }

    /// Values at a dot path; arrays are walked at every step.
    static func elementValues(_ value: Any, path: String) -> [Any] {
        var current: [Any] = [value]
        for step in path.split(separator: ".") {
            var next: [Any] = []
            for item in current {
                guard let object = item as? [String: Any], let child = object[String(step)] else { continue }
                if let list = child as? [Any] { next.append(contentsOf: list) } else { next.append(child) }
            }
            current = next
        }
        return current
    }

    /// Token values: a code string; "system|code" and "code" for each Coding of a
    /// CodeableConcept or a Coding.
    static func tokens(_ element: Any) -> [String] {
        if let text = element as? String { return [text] }
        if let flag = element as? Bool { return [flag ? "true" : "false"] }
        guard let object = element as? [String: Any] else { return [] }
        let codings = (object["coding"] as? [Any])?.compactMap { $0 as? [String: Any] } ?? (object["code"] != nil ? [object] : [])
        return codings.flatMap { coding -> [String] in
            guard let code = coding["code"] as? String else { return [] }
            if let system = coding["system"] as? String { return ["\(system)|\(code)", code] }
            return [code]
        }
    }

    /// The identifying strings of a HumanName, Identifier, ContactPoint, Address or plain string.
    static func blindTexts(_ element: Any) -> [String] {
        if let text = element as? String { return [text] }
        guard let object = element as? [String: Any] else { return [] }
        var out: [String] = []
        for key in ["family", "text", "value", "city", "postalCode"] { if let text = object[key] as? String { out.append(text) } }
        for key in ["given", "line", "prefix"] where key != "prefix" {
            out.append(contentsOf: (object[key] as? [Any])?.compactMap { $0 as? String } ?? [])
        }
        return out
    }
}
