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

/// A stored value that also writes its canonical bytes by hand: the ones written with every claim
/// (a claim with its adjudication, a coverage with its accumulators), where going through `Codable`
/// cost more than the rest of the write. `Codable` stays the definition: the hand-written bytes are
/// exactly `CanonicalEncoder().encodeBytes`'s (`HandWrittenStoredValueTests` compares them on the
/// stored-state vectors and on random values), and where the hand-written writer cannot write a
/// value (it returns false: a height above `Int64.max`) the `Codable` path writes it or refuses it.
protocol HandWrittenStoredValue: StoredValue {
    /// Appends the canonical form; false (with `writer` in any state) if this value needs the `Codable` path.
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool
}

extension HandWrittenStoredValue {
    /// The canonical bytes: hand-written, or through `Codable` where the writer declines.
    func canonicalBytes() throws(CanonicalEncodingError) -> [UInt8] {
        var writer = CanonicalWriter(capacity: 256)
        if writeCanonical(to: &writer) { return writer.bytes }
        return try CanonicalEncoder().encodeBytes(self)
    }
}

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

    /// Writes a stored value that writes its bytes by hand: the same bytes, and the same refusal.
    mutating func set(_ key: String, _ value: some HandWrittenStoredValue) throws(Rejection) {
        do {
            set(key, try value.canonicalBytes())
        } catch {
            throw Rejection(.badArguments, "the value for \(key) cannot be stored: \(error)")
        }
    }
}

extension CanonicalWriter {
    /// A map key, as the `Codable` path spells it (the `CodingKeys` case's string value).
    mutating func writeMapKey(_ key: some CodingKey) { writeMapKey(key.stringValue) }

    /// An unsigned integer the format can hold; false above `Int64.max`.
    mutating func write(exactly value: UInt64) -> Bool {
        guard let exact = Int64(exactly: value) else { return false }
        write(int: exact)
        return true
    }

    /// A list of strings.
    mutating func write(strings: [String]) {
        writeListHeader(count: strings.count)
        for string in strings { write(string: string) }
    }

    /// A string-keyed map of integers, keys in canonical (UTF-8 byte) order, as `Codable` writes a dictionary.
    mutating func write(intMap: [String: Int64]) {
        writeMapHeader(count: intMap.count)
        let keys = intMap.count < 2 ? Array(intMap.keys) : intMap.keys.sorted { String.utf8Order($0, $1) < 0 }
        for key in keys {
            writeMapKey(key)
            write(int: intMap[key]!)
        }
    }
}
