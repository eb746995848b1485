import Foundation
public import LedgerCore

/// Converts `--args` JSON into a canonical value.
public enum ArgumentsJSON {
    /// Largest `--args` accepted.
    public static let bytesMax = 16 * 1024

    public static func parse(_ text: String, directory: DataDirectory) throws -> CanonicalValue {
        guard text.utf8.count <= bytesMax else { throw ServiceError("--args is larger than \(bytesMax) bytes") }
        let json: JSONValue
        do { json = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
            throw ServiceError("--args is not valid JSON (integers only, no floats): \(error)")
        }
        return try convert(json, directory: directory, path: "args")
    }

    private static func convert(_ value: JSONValue, directory: DataDirectory, path: String) throws -> CanonicalValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .string(let string): return try convert(string: string, directory: directory, path: path)
        case .array(let array):
            return .list(try array.enumerated().map { try convert($1, directory: directory, path: "\(path)[\($0)]") })
        case .object(let object):
            var map: CanonicalMap = [:]
            for (key, item) in object { map[key] = try convert(item, directory: directory, path: "\(path).\(key)") }
            return .map(map)
        }
    }

    private static func convert(string: String, directory: DataDirectory, path: String) throws -> CanonicalValue {
        if string.hasPrefix("0x") {
            guard let bytes = Hex.decode(string.dropFirst(2)) else { throw ServiceError("\(path): “\(string)” is not valid hex") }
            return .bytes(bytes)
        }
        for (prefix, pick) in [("@id:", { (k: IdentityKeys) in k.derivedID.bytes }), ("@signing:", { $0.signingPublicKey.rawValue }),
                               ("@agreement:", { $0.agreementPublicKey })] where string.hasPrefix(prefix) {
            return .bytes(pick(try directory.loadKey(String(string.dropFirst(prefix.count)))))
        }
        return .string(string)
    }
}

/// JSON restricted to what the ledger encodes: no floats.
enum JSONValue: Decodable {
    case null, bool(Bool), int(Int64), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let i = try? container.decode(Int64.self) { self = .int(i) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? container.decode([String: JSONValue].self) { self = .object(o) }
        else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "floats are not allowed") }
    }
}
