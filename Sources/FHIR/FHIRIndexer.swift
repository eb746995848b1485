import Foundation
public import Vault

/// Finds the searchable parts of a FHIR R4 resource, as `SearchParameters` defines them: direct
/// identifiers (names, identifiers, telecom, address) for the blind index, and codes, dates and
/// status as plain values. Free text (narrative, notes, string values) is never extracted.
public enum FHIRIndexer {
    /// The version of what `extract` produces; a vault indexed by an older one is indexed again
    /// (`AccessService.rebuildSearchIndex`). 2: the standard's search parameters, dates as intervals.
    /// 3: no end row for an interval of a day or less (`SearchValues.shortIntervalSeconds`).
    public static let version = 3

    /// Most identifiers and most values taken from one resource; further ones are not indexed.
    public static let itemsMax = 1_000

    /// The indexable fields of a parsed resource.
    public static func extract(_ resource: [String: Any]) -> ExtractedFields {
        let type = resource["resourceType"] as? String ?? ""
        var fields = ExtractedFields(resourceType: type)
        var seen = Set<IndexedValue>()
        func value(_ name: String, _ text: String) {
            guard !text.isEmpty, fields.values.count < itemsMax else { return }
            let item = IndexedValue(param: name, value: text)
            if seen.insert(item).inserted { fields.values.append(item) }
        }
        value("_type", type)
        // A code's text and its display are often the same words: each is tokenized (HMAC'd) once.
        var seenIdentifiers = Set<ExtractedIdentifier>()
        func blind(_ field: IdentifierField, _ value: String, _ scope: String, wordsOnly: Bool = false) {
            guard fields.identifiers.count < itemsMax else { return }
            let item = ExtractedIdentifier(field: field, value: value, scope: scope, wordsOnly: wordsOnly)
            if seenIdentifiers.insert(item).inserted { fields.identifiers.append(item) }
        }
        /// An Identifier: its value; `system|value`, `system|` and with a type `type|value` (one keyed token each).
        func identifier(_ element: Any, _ scope: String) {
            guard let object = element as? [String: Any], let text = object["value"] as? String else { return }
            blind(.identifier, text, scope)
            // `system|value`, `system|` (any value of the system) and `|value` (a value with no system).
            let system = object["system"] as? String ?? ""
            blind(.identifier, BlindIndexer.systemQualified(system: system, value: text), scope)
            if !system.isEmpty { blind(.identifier, BlindIndexer.systemQualified(system: system, value: ""), scope) }
            for case let coding as [String: Any] in (object["type"] as? [String: Any])?["coding"] as? [Any] ?? [] {
                if let system = coding["system"] as? String, let code = coding["code"] as? String {
                    blind(.identifier, BlindIndexer.typeQualified(system: system, code: code, value: text), scope)
                }
            }
        }
        // A parameter answered from its parts stores nothing of its own.
        for parameter in SearchParameters.sortedForType(type) where parameter.parts.isEmpty {
            switch (parameter.target, parameter.kind) {
            case (.patient, _), (.value, .reference):
                // Patients are found through the record's patient; other targets (a Group, a Device) are stored.
                for path in parameter.paths {
                    let elements = path.elements(in: resource)
                    for reference in references(elements, only: path.referenceType) where parameter.target != .patient || !reference.hasPrefix("Patient/") {
                        value(parameter.name, reference)
                    }
                    // `:identifier`: a Reference's own identifier, blind.
                    for case let object as [String: Any] in elements { if let id = object["identifier"] { identifier(id, parameter.name + ":identifier") } }
                }
            case (.blind(let field), .date):
                // As written: a year or a month is an interval, matched as one.
                for case let text as String in parameter.paths.flatMap({ $0.elements(in: resource) }) where fields.identifiers.count < itemsMax {
                    guard let normalized = FHIRDateTime.normalized(text) else { continue }
                    blind(field, text, parameter.name)
                    fields.sortValues.append(IndexedValue(param: parameter.name, value: normalized))
                }
            case (.blind(.identifier), _):
                for element in parameter.paths.flatMap({ $0.elements(in: resource) }) { identifier(element, parameter.name) }
            case (.blind(let field), _):
                for element in parameter.paths.flatMap({ $0.elements(in: resource) }) {
                    for text in blindTexts(element) { blind(field, text, parameter.name) }
                }
            case (.value, .composite):
                for text in composites(parameter, in: resource) { value(parameter.name, text) }
            case (.value, let kind):
                for path in parameter.paths {
                    let elements = path.elements(in: resource)
                    for text in values(kind, elements, only: path.referenceType) {
                        if kind == .date, let bar = text.firstIndex(of: "|") {
                            value(parameter.name, text)
                            let (lo, hi) = (String(text[..<bar]), String(text[text.index(after: bar)...]))
                            if !SearchValues.isShort(lo: lo, hi: hi) { value(SearchValues.endRow(parameter.name), hi + "|" + lo) }
                        } else {
                            value(parameter.name, text)
                        }
                    }
                    // `:text`: the words of a code's text and displays, blind (free text may say anything).
                    if kind == .token { for text in elements.flatMap(codeTexts) { blind(.name, text, parameter.name + ":text", wordsOnly: true) } }
                }
            }
        }
        return fields
    }

    /// The index texts of plain elements of one kind.
    static func values(_ kind: SearchParameter.Kind, _ elements: [Any], only referenceType: String? = nil) -> [String] {
        switch kind {
        case .token: return elements.flatMap(tokens)
        case .date: return elements.flatMap(SearchValues.intervals).map { $0.lo + "|" + $0.hi }
        case .reference: return references(elements, only: referenceType)
        case .number: return elements.compactMap { SearchValues.numberText($0).flatMap(SortableNumber.encode) }
        case .quantity: return elements.compactMap(SearchValues.quantity)
        case .uri: return elements.compactMap { $0 as? String }
        case .string, .composite: return []
        }
    }

    /// A composite's rows: for each element at its paths, every pair of its components' values.
    static func composites(_ parameter: SearchParameter, in resource: [String: Any]) -> [String] {
        guard parameter.components.count == 2 else { return [] }
        var out: [String] = []
        for element in parameter.paths.flatMap({ $0.elements(in: resource) }) {
            let first = parameter.components[0].paths.flatMap { values(parameter.components[0].kind, $0.elements(in: element)) }
            guard !first.isEmpty else { continue }
            let second = parameter.components[1].paths.flatMap { values(parameter.components[1].kind, $0.elements(in: element)) }
            for a in first { for b in second where out.count < 64 { out.append(a + "$" + b) } }
        }
        return out
    }

    /// `Type/id` for relative references (a version dropped), the text of absolute ones and of
    /// canonicals; contained (`#…`) references are not indexed.
    static func references(_ elements: [Any], only referenceType: String?) -> [String] {
        elements.compactMap { element -> String? in
            let text = (element as? [String: Any])?["reference"] as? String ?? (element as? String)
            guard let text, !text.isEmpty, !text.hasPrefix("#") else { return nil }
            let parsed = FHIRJSON.parseReference(text)
            if let referenceType, parsed?.type != referenceType { return nil }
            if let parsed, !isAbsolute(text) { return parsed.type + "/" + parsed.id }
            return text
        }
    }

    /// Whether a reference has a scheme (`http://…`, `urn:uuid:…` has none of `://`).
    static func isAbsolute(_ text: String) -> Bool {
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in text.utf8 {
            if byte == UInt8(ascii: "/"), previous == (UInt8(ascii: ":"), UInt8(ascii: "/")) { return true }
            previous = (previous.1, byte)
        }
        return false
    }

    /// Parses and extracts (for callers holding bytes).
    public static func extract(_ json: [UInt8]) throws(FHIRError) -> ExtractedFields {
        let resource = try FHIRJSON.object(json)
        try FHIRJSON.validate(resource)
        return extract(resource)
    }

    /// The text and displays of a CodeableConcept or a Coding.
    static func codeTexts(_ element: Any) -> [String] {
        guard let object = element as? [String: Any] else { return [] }
        var out: [String] = []
        if let text = object["text"] as? String { out.append(text) }
        if let display = object["display"] as? String { out.append(display) }
        for case let coding as [String: Any] in object["coding"] as? [Any] ?? [] { if let display = coding["display"] as? String { out.append(display) } }
        return out
    }

    /// Token values: a code string; "system|code" and "code" for each Coding of a
    /// CodeableConcept or a Coding ("code" and "|code" when it has no system).
    static func tokens(_ element: Any) -> [String] {
        if let text = element as? String { return [text] }
        if let flag = element as? Bool { return [flag ? "true" : "false"] }
        guard let object = element as? [String: Any] else { return [] }
        let codings = (object["coding"] as? [Any])?.compactMap { $0 as? [String: Any] } ?? (object["code"] != nil ? [object] : [])
        return codings.flatMap { coding -> [String] in
            guard let code = coding["code"] as? String else { return [] }
            if let system = coding["system"] as? String { return ["\(system)|\(code)", code] }
            return [code, "|" + code]   // `|code`: a code with no system
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
