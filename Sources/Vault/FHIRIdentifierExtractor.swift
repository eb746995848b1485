import Foundation

/// A direct identifier found in a resource: indexed only as blind tokens.
public struct ExtractedIdentifier: Sendable, Equatable {
    public let field: IdentifierField
    public let value: String
}

/// A non-identifying value (code, date, status) that may be indexed as is, against record ids.
public struct IndexedValue: Sendable, Equatable, Hashable {
    public let param: String
    public let value: String

    public init(param: String, value: String) {
        self.param = param
        self.value = value
    }
}

/// What the index may know of a resource.
public struct ExtractedFields: Sendable, Equatable {
    public var resourceType: String
    public var identifiers: [ExtractedIdentifier]
    public var values: [IndexedValue]
}

/// Finds the searchable parts of a FHIR R4 resource: direct identifiers (names, identifiers,
/// telecom, addresses — of the resource and its contacts) for the blind index, and codes, dates
/// and status as plain values. Free text (narrative, notes, string values) is never extracted.
public enum FHIRIdentifierExtractor {
    /// Largest resource accepted.
    public static let inputBytesMax = 4 * 1024 * 1024
    /// Most identifiers and most values taken from one resource; further ones are not indexed.
    public static let itemsMax = 1_000
    /// Date fields indexed as values.
    static let dateFields = ["birthDate", "effectiveDateTime", "issued", "authoredOn", "onsetDateTime", "recordedDate"]

    /// Extracts the indexable fields of a FHIR JSON resource.
    public static func extract(_ json: [UInt8]) throws(VaultError) -> ExtractedFields {
        guard json.count <= inputBytesMax else { throw .tooLarge(what: "FHIR resource", bytes: json.count, max: inputBytesMax) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw .malformed("content is not a JSON object")
        }
        guard let resourceType = object["resourceType"] as? String, !resourceType.isEmpty else {
            throw .malformed("content has no resourceType")
        }
        var fields = ExtractedFields(resourceType: resourceType, identifiers: [], values: [])
        func identifier(_ field: IdentifierField, _ value: Any?) {
            guard let text = value as? String, !text.isEmpty, fields.identifiers.count < itemsMax else { return }
            fields.identifiers.append(ExtractedIdentifier(field: field, value: text))
        }
        func value(_ param: String, _ text: Any?) {
            guard let text = text as? String, !text.isEmpty, fields.values.count < itemsMax else { return }
            fields.values.append(IndexedValue(param: param, value: text))
        }
        func people(_ holder: [String: Any]) {
            for name in objects(holder["name"]) {
                identifier(.name, name["family"])
                identifier(.name, name["text"])
                for given in strings(name["given"]) { identifier(.name, given) }
            }
            for id in objects(holder["identifier"]) { identifier(.identifier, id["value"]) }
            for telecom in objects(holder["telecom"]) { identifier(.telecom, telecom["value"]) }
            for address in objects(holder["address"]) {
                for line in strings(address["line"]) { identifier(.address, line) }
                identifier(.address, address["city"])
                identifier(.address, address["postalCode"])
                identifier(.address, address["text"])
            }
        }
        people(object)
        for contact in objects(object["contact"]) { people(contact) }

        if let code = object["code"] as? [String: Any] { codings(code, "code", value) }
        for category in objects(object["category"]) { codings(category, "category", value) }
        value("status", object["status"])
        value("gender", object["gender"])
        for field in dateFields { value(field, object[field]) }
        if let period = object["period"] as? [String: Any] {
            value("period.start", period["start"])
            value("period.end", period["end"])
        }
        return fields
    }

    private static func codings(_ concept: [String: Any], _ param: String, _ value: (String, Any?) -> Void) {
        for coding in objects(concept["coding"]) {
            guard let code = coding["code"] as? String else { continue }
            value(param, "\(coding["system"] as? String ?? "")|\(code)")
        }
    }

    private static func objects(_ value: Any?) -> [[String: Any]] {
        if let list = value as? [Any] { return list.compactMap { $0 as? [String: Any] } }
        if let single = value as? [String: Any] { return [single] }
        return []
    }

    private static func strings(_ value: Any?) -> [String] { (value as? [Any])?.compactMap { $0 as? String } ?? [] }
}
