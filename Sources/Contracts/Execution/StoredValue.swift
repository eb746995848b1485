import LedgerCore

/// A value a contract keeps in state. Its stored form is derived from its `Codable` conformance by
/// the canonical coder — one map entry per `CodingKeys` case, a nil optional left out — so no type
/// spells its encoding by hand, and decoding is as strict as for call arguments (an unknown key, a
/// missing key or a wrong type makes the stored bytes undecodable).
///
/// A property that is part of the state key rather than of the value (a claim's id, a product's
/// GTIN) is left out of `CodingKeys`, has a placeholder default, and is filled in from the key by
/// `decode(_:key:)`.
protocol StoredValue: Codable, Sendable {}

extension StoredValue {
    /// Decodes stored bytes; nil when they are not this type's canonical form.
    static func decode(_ bytes: [UInt8]) -> Self? {
        try? CanonicalDecoder().decode(Self.self, fromBytes: bytes)
    }

    /// Decodes stored bytes and sets the properties that come from the state key.
    static func decode(_ bytes: [UInt8]?, key: (inout Self) -> Void) -> Self? {
        guard let bytes, var value = decode(bytes) else { return nil }
        key(&value)
        return value
    }
}

/// A list of stored values is stored as a list.
extension Array: StoredValue where Element: StoredValue {}

extension StateView {
    /// Writes a stored value in its canonical form. Encoding fails only for a value the format
    /// cannot hold (an unsigned integer above `Int64.max`), which is refused, not trapped.
    mutating func set(_ key: String, _ value: some StoredValue) throws(Rejection) {
        do {
            set(key, try CanonicalEncoder().encodeBytes(value))
        } catch {
            throw Rejection(.badArguments, "the value for \(key) cannot be stored: \(error)")
        }
    }
}
