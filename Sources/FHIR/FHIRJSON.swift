import Foundation
import LedgerCore

/// FHIR R4 JSON: parsing with limits, serialization, and the structural checks every stored
/// resource passes.
public enum FHIRJSON {
    /// Largest resource accepted (a Bundle may be larger: see `bundleBytesMax`).
    public static let resourceBytesMax = 4 << 20
    /// Largest Bundle accepted.
    public static let bundleBytesMax = 64 << 20
    /// Deepest nesting accepted.
    public static let depthMax = 64

    /// Parses a JSON object (strict RFC 8259, see `JSONParser`), or a 400 saying why not.
    public static func object(_ bytes: some Collection<UInt8>, limit: Int = resourceBytesMax) throws(FHIRError) -> [String: Any] {
        guard bytes.count <= limit else { throw FHIRError(413, "too-costly", "body is \(bytes.count) bytes; the limit is \(limit)") }
        let parse = { (buffer: UnsafeBufferPointer<UInt8>) in
            Result { () throws(JSONParser.Failure) in try JSONParser.object(in: buffer, depthMax: depthMax) }
        }
        switch bytes.withContiguousStorageIfAvailable(parse) ?? Array(bytes).withUnsafeBufferPointer(parse) {
        case .success(let object): return object
        case .failure(.syntax): throw .invalid("body is not valid JSON")
        case .failure(.notAnObject): throw .invalid("body must be a JSON object")
        case .failure(.tooDeep): throw .invalid("JSON is nested deeper than \(depthMax) levels")
        }
    }

    /// Serialized JSON (sorted keys unless `sorted` is false — unsorted is several times faster,
    /// for storage; pretty when asked).
    public static func data(_ object: [String: Any], pretty: Bool = false, sorted: Bool = true) -> [UInt8] {
        if !pretty, !sorted, let out = CompactJSON.bytes(object) { return out }
        var options: JSONSerialization.WritingOptions = sorted ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: options) else {
            preconditionFailure("resource is not serializable JSON")
        }
        return Array(data)
    }

    /// Checks what the server relies on: a known resourceType (equal to `expectedType` when
    /// given), a well-formed id when present, well-formed references, and no empty objects or
    /// strings (FHIR forbids them). Returns the resource type.
    @discardableResult
    public static func validate(_ resource: [String: Any], expectedType: String? = nil) throws(FHIRError) -> String {
        guard let type = resource["resourceType"] as? String else { throw .invalid("resource has no resourceType", at: "resourceType") }
        guard FHIRResourceTypes.all.contains(type) else { throw .invalid("“\(type.prefix(64))” is not an R4 resource type", at: "resourceType") }
        if let expectedType, type != expectedType {
            throw .invalid("resourceType \(type) does not match the URL's \(expectedType)", at: "resourceType")
        }
        if let id = resource["id"] {
            guard let text = id as? String, isValidID(text) else { throw .invalid("id must be 1–64 of A–Z a–z 0–9 - . (not . or ..)", at: "\(type).id") }
        }
        // The walk that names the problem's path runs only for a resource that has one.
        if !valuesAreClean(resource) { try checkValues(resource, path: type) }
        return type
    }

    /// Refuses a resource that does not conform to the R4 definitions (`FHIRValidator`: elements,
    /// types, cardinality, formats, required codes, references, and so every contained resource
    /// and Bundle entry): a 400 whose OperationOutcome lists every problem with its expression.
    public static func conform(_ resource: [String: Any]) throws(FHIRError) {
        let found = FHIRValidator.validate(resource)
        guard let first = found.first(where: { $0.severity == .error || $0.severity == .fatal }) else { return }
        let errors = found.filter { $0.severity == .error || $0.severity == .fatal }.count
        throw FHIRError(400, first.code, "the resource does not conform to FHIR R4 (\(errors) problem\(errors == 1 ? "" : "s")); the first, at "
                        + "\(first.expression): \(first.message)", expression: first.expression, issues: found)
    }

    /// `[A-Za-z0-9\-\.]{1,64}`, but not `.` or `..`.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        // "." and ".." match FHIR's pattern but are dot segments: a URL naming them (Location,
        // fullUrl, a client's next request) resolves to another resource once normalized (RFC 3986 §5.2.4).
        guard id != ".", id != ".." else { return false }
        return bytes.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 46 }
    }

    /// True when `checkValues` finds nothing (no empty object, array or string, no malformed
    /// reference); builds no paths.
    private static func valuesAreClean(_ value: Any) -> Bool {
        if let object = value as? [String: Any] {
            guard !object.isEmpty else { return false }
            for (key, child) in object {
                if key == "reference", let reference = child as? String, !isValidReference(reference) { return false }
                guard valuesAreClean(child) else { return false }
            }
            return true
        }
        if let list = value as? [Any] { return !list.isEmpty && list.allSatisfy(valuesAreClean) }
        if let text = value as? String { return !text.isEmpty }
        return true
    }

    private static func checkValues(_ value: Any, path: String) throws(FHIRError) {
        if let object = value as? [String: Any] {
            guard !object.isEmpty else { throw .invalid("empty object", at: path) }
            for (key, child) in object {
                if key == "reference", let reference = child as? String, !isValidReference(reference) {
                    throw .invalid("reference “\(reference.prefix(80))” is not Type/id, a URL or urn:uuid", at: "\(path).reference")
                }
                try checkValues(child, path: "\(path).\(key)")
            }
        } else if let list = value as? [Any] {
            guard !list.isEmpty else { throw .invalid("empty array", at: path) }
            for (index, child) in list.enumerated() { try checkValues(child, path: "\(path)[\(index)]") }
        } else if let text = value as? String, text.isEmpty {
            throw .invalid("empty string", at: path)
        }
    }

    /// A relative `Type/id` (optionally `/_history/v`), an absolute URL, a `urn:uuid:`/`urn:oid:`, or a `#contained` reference.
    public static func isValidReference(_ reference: String) -> Bool {
        if reference.hasPrefix("#") || reference.hasPrefix("urn:uuid:") || reference.hasPrefix("urn:oid:")
            || reference.hasPrefix("http://") || reference.hasPrefix("https://") { return reference.count > 1 }
        let parts = reference.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || (parts.count == 4 && parts[2] == "_history") else { return false }
        return FHIRResourceTypes.all.contains(parts[0]) && isValidID(parts[1])
    }

    /// `Type/id` of a relative reference, or nil.
    public static func parseReference(_ reference: String) -> (type: String, id: String)? {
        let parts = reference.split(separator: "/").map(String.init)
        guard parts.count >= 2, FHIRResourceTypes.all.contains(parts[parts.count >= 4 && parts[parts.count - 2] == "_history" ? parts.count - 4 : parts.count - 2]) else {
            return nil
        }
        let base = parts.count >= 4 && parts[parts.count - 2] == "_history" ? parts.count - 4 : parts.count - 2
        guard isValidID(parts[base + 1]) else { return nil }
        return (parts[base], parts[base + 1])
    }
}
